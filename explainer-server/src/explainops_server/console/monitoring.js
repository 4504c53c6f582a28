// @ts-check
// Drift charts of the console: input drift per feature and explanation drift, from GET .../monitoring.
// Loaded after app.js, whose helpers (api, modelPath, svg, el, $, state) and types it uses.
"use strict";

const EXPLANATION_FEATURES = 8; // features shown in the explanation drift chart

async function refreshMonitoring() {
  if (!state.model) return;
  try {
    state.monitoring = /** @type {Monitoring} */ (await api(modelPath("/monitoring")));
  } catch (err) {
    state.monitoring = { status: "unavailable", note: err instanceof Error ? err.message : String(err) };
  }
  renderMonitoringFigures();
  renderDriftChart();
  renderExplanationDriftChart();
}

/** The monitoring document, or null when it could not be read. */
function monitoringDocument() {
  const doc = state.monitoring;
  return doc && doc.status !== "unavailable" ? /** @type {Monitoring} */ (doc) : null;
}

function renderMonitoringFigures() {
  const stats = state.stats;
  $("fig-labelled-share").textContent = pct(stats ? stats.labelled_share : null);
  const delay = stats ? stats.label_delay_mean_seconds : null;
  $("fig-label-delay").textContent = typeof delay === "number" ? duration(delay) : "–";
  const doc = monitoringDocument();
  const drift = doc && doc.input_drift;
  $("fig-input-drift").textContent = drift ? `${drift.drifted_features.length} / ${drift.features.length} features` : "–";
  const store = doc && doc.store;
  if (store && store.rows) {
    const size = typeof store.bytes === "number" ? ` · ${(store.bytes / 1048576).toFixed(1)} MB` : "";
    const kept = store.retention_seconds ? ` · kept ${duration(store.retention_seconds)}` : " · kept forever";
    $("fig-store").textContent = `${store.rows.predictions} predictions, ${store.rows.feedback} feedback${size}${kept}`;
  } else {
    $("fig-store").textContent = "–";
  }
}

/** @param {number} seconds */
function duration(seconds) {
  if (seconds < 120) return `${seconds.toFixed(0)} s`;
  if (seconds < 7200) return `${(seconds / 60).toFixed(0)} min`;
  if (seconds < 172800) return `${(seconds / 3600).toFixed(1)} h`;
  return `${(seconds / 86400).toFixed(1)} d`;
}

/** @param {typeof state.monitoring} doc */
function driftNote(doc) {
  if (!doc) return "Not loaded yet.";
  if (doc.status === "disabled") return "Monitoring is off on this server.";
  if (doc.status !== "ok") return doc.note || "Not computed yet.";
  return null;
}

// One bar per feature: its test statistic (KS D or PSI), red when the feature's drift test rejects.
function renderDriftChart() {
  const box = $("drift-chart");
  const summary = $("drift-summary");
  box.replaceChildren();
  const note = driftNote(state.monitoring);
  const doc = monitoringDocument();
  const drift = doc && doc.input_drift;
  if (note || !drift) {
    summary.textContent = "";
    box.append(el("p", { class: "muted", text: note || "Not computed yet." }));
    return;
  }
  summary.textContent = `${drift.drifted_features.length} of ${drift.features.length} features drifted · last ${drift.window_rows} predictions vs ${drift.reference_rows} reference rows`;
  const items = [...drift.features].sort((a, b) => Number(b.drifted) - Number(a.drifted) || b.value - a.value);
  const width = 360, rowH = 13, labelW = 150, valueW = 58, top = 4;
  const height = top + rowH * items.length + 16;
  const plotW = width - labelW - valueW;
  const maxValue = Math.max(...items.map((f) => f.value), 0.05);
  const root = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": "Input drift per feature",
    "data-kind": "input-drift" });
  items.forEach((f, i) => {
    const y = top + i * rowH;
    const w = Math.max((f.value / maxValue) * plotW, 1);
    root.append(svg("text", { x: labelW - 4, y: y + 10, "text-anchor": "end" }, f.feature));
    root.append(svg("rect", { x: labelW, y: y + 2, width: w, height: rowH - 4, rx: 1,
      fill: f.drifted ? "var(--bad)" : "#9aa3ad", "data-feature": f.feature, "data-drifted": String(f.drifted),
      "data-statistic": f.statistic }));
    root.append(svg("text", { x: width - 2, y: y + 10, "text-anchor": "end" },
      `${f.statistic === "ks" ? "D" : "PSI"} ${num(f.value, 2)}`));
  });
  root.append(svg("text", { x: labelW + plotW / 2, y: height - 3, "text-anchor": "middle", fill: "var(--muted)" },
    "KS D (numeric) · PSI (categorical) · red = drifted"));
  box.append(root);
}

// Share of mean |attribution| per feature: reference sample vs recent predictions.
function renderExplanationDriftChart() {
  const box = $("explanation-drift-chart");
  const summary = $("explanation-drift-summary");
  box.replaceChildren();
  const doc = monitoringDocument();
  const moved = doc && doc.explanation_drift;
  if (!moved) {
    summary.textContent = "";
    const note = driftNote(state.monitoring) || (state.monitoring && state.monitoring.note) || "Not available.";
    box.append(el("p", { class: "muted", text: note }));
    return;
  }
  summary.textContent = `${pct(moved.value)} of attribution moved${moved.drifted ? " · drifted" : ""}`;
  const items = [...moved.features]
    .sort((a, b) => Math.max(b.reference_share, b.recent_share) - Math.max(a.reference_share, a.recent_share))
    .slice(0, EXPLANATION_FEATURES);
  const width = 360, rowH = 20, labelW = 150, top = 4;
  const height = top + rowH * items.length + 16;
  const plotW = width - labelW - 44;
  const maxShare = Math.max(...items.map((f) => Math.max(f.reference_share, f.recent_share)), 0.01);
  const root = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": "Explanation drift",
    "data-kind": "explanation-drift", "data-value": String(moved.value) });
  items.forEach((f, i) => {
    const y = top + i * rowH;
    root.append(svg("text", { x: labelW - 4, y: y + 13, "text-anchor": "end" }, f.feature));
    root.append(svg("rect", { x: labelW, y: y + 2, width: Math.max((f.reference_share / maxShare) * plotW, 1),
      height: 7, fill: "#9aa3ad", "data-sample": "reference" }));
    root.append(svg("rect", { x: labelW, y: y + 10, width: Math.max((f.recent_share / maxShare) * plotW, 1),
      height: 7, fill: "var(--accent)", "data-sample": "recent" }));
    root.append(svg("text", { x: width - 2, y: y + 13, "text-anchor": "end" }, pct(f.recent_share)));
  });
  root.append(svg("text", { x: labelW + plotW / 2, y: height - 3, "text-anchor": "middle", fill: "var(--muted)" },
    "|attribution| share: grey reference, dark recent"));
  box.append(root);
}
