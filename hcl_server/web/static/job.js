// Keeps a job page's progress bar up to date: polls the job's state while it is queued or
// running, then reloads the page once, to show how it ended (downloads or the error). A bulk job
// whose Excel file is still being written (data-xlsx="pending") is polled until it is ready.
(function () {
  const box = document.getElementById("job");
  const active = (state) => ["queued", "running"].includes(state.status) || state.xlsx === "pending";
  if (!box || !active({ status: box.dataset.status, xlsx: box.dataset.xlsx })) return;
  const bar = document.getElementById("progress");
  const status = document.getElementById("status");
  const stage = document.getElementById("stage");
  async function poll() {
    try {
      const response = await fetch(box.dataset.stateUrl, { credentials: "same-origin" });
      if (response.ok) {
        const state = await response.json();
        bar.value = state.progress;
        bar.textContent = Math.round(state.progress * 100) + " %";
        status.textContent = state.status;
        stage.textContent = state.stage && state.stage !== state.status ? " · " + state.stage : "";
        if (!active(state)) {
          window.location.reload();
          return;
        }
      }
    } catch (e) {
      // the server may be restarting: keep polling
    }
    setTimeout(poll, 1000);
  }
  setTimeout(poll, 1000);
})();
