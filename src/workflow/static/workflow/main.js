"use strict";

const POLL_INTERVAL_MS = 1000;
const FINAL_STATES = new Set(["SUCCESS", "FAILURE"]);

function showError(message) {
  const box = document.getElementById("error");
  box.textContent = message;
  box.hidden = false;
}

// textContent, never innerHTML: a task result is data and must not become markup.
function addRow(status) {
  const row = document.createElement("tr");
  const result = typeof status.task_result === "string" ? status.task_result : JSON.stringify(status.task_result);
  for (const value of [status.task_id, status.task_status, result]) {
    const cell = document.createElement("td");
    cell.textContent = value;
    row.appendChild(cell);
  }
  document.getElementById("tasks").prepend(row);
}

async function pollStatus(taskId) {
  const response = await fetch(`/tasks/${encodeURIComponent(taskId)}/`);
  if (!response.ok) {
    showError(`status check failed: HTTP ${response.status}`);
    return;
  }
  const status = await response.json();
  addRow(status);
  if (!FINAL_STATES.has(status.task_status)) {
    setTimeout(() => pollStatus(taskId), POLL_INTERVAL_MS);
  }
}

async function startTask(taskType) {
  const response = await fetch("/tasks/", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ type: taskType }),
  });
  const body = await response.json().catch(() => ({}));
  if (response.status !== 202) {
    showError(body.error || `could not start the task: HTTP ${response.status}`);
    return;
  }
  pollStatus(body.task_id);
}

for (const button of document.querySelectorAll(".task-button")) {
  button.addEventListener("click", () => startTask(Number(button.dataset.type)));
}
