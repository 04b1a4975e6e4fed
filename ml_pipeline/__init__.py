"""ml_pipeline: from a raw customer event log to multi-target churn and spend models.

No Flask, no SQLAlchemy, no boto3: frames and paths in, objects and files out.
"""

from ml_pipeline.errors import EventLogError, PipelineError

__version__ = "0.1.0"
__all__ = ["EventLogError", "PipelineError", "__version__"]
