"""api_wording: a refusal from ml_pipeline names the API's form fields instead of the CLI's flags."""

from __future__ import annotations

import pytest

from ml_pipeline.data.options import api_wording


@pytest.mark.parametrize(
    "cli,api",
    [
        ("pass --decimal comma", "pass decimal=comma"),
        (
            "pass --duplicates drop, or --duplicates keep when",
            "pass duplicates=drop, or duplicates=keep when",
        ),
        ("pass --date-format %d/%m/%Y or %m/%d/%Y", "pass date_format=%d/%m/%Y or %m/%d/%Y"),
        ("ambiguous date; pass --date-format", "ambiguous date; pass the date_format field"),
        ("pass --encoding cp1252 to read it", "pass encoding=cp1252 to read it"),
        ("map one with --column customer_id=NAME", 'map one with column_mapping {"customer_id": "NAME"}'),
        ("--event-type charge=purchase", 'event_types {"charge": "purchase"}'),
        ("(choose another with --sheet)", "(choose another with the sheet field)"),
        ("raise --max-bad-rows 0.05 to keep them", "raise max_bad_rows=0.05 to keep them"),
        ("the --as-of date", "the --as-of date"),  # not a reading option: left as it is
    ],
)
def test_flags_become_form_fields(cli, api):
    assert api_wording(cli) == api


@pytest.mark.parametrize(
    "cli,api",
    [
        ("pass --encoding if it is another", "pass the encoding field if it is another"),
        ("pass --decimal to choose", "pass the decimal field to choose"),
        ("pass --sheet Events", "pass the sheet field Events"),
    ],
)
def test_a_word_that_is_no_value_of_the_flag_stays_in_the_sentence(cli, api):
    assert api_wording(cli) == api
