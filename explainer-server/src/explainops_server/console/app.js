// ExplainOps feedback console: plain JavaScript, no build step, no external resources.
// It uses the same REST API as any other client and sends the bearer token when one is set.
"use strict";

const TOKEN_KEY = "explainops.console.token";
const MODEL_KEY = "explainops.console.model";
const SVG_NS = "http://www.w3.org/2000/svg";
const REFRESH_MS = 15000;
const ROLLING_WINDOW = 10;
const HISTORY_ROWS = 300; // predictions read for the accuracy chart
const LIST_ROWS = 100; // of which the list shows the newest

const state = {
  model: "",
  classNames: null,
  featureNames: null,
  predictions: [],
  selectedId: null,
  verdict: null, // "correct" | "wrong" | null
  stats: null,
  explanations: new Map(), // prediction id -> explanation fetched in this page
};

const $ = (id) => document.getElementById(id);

// ---------------------------------------------------------------- REST client

class ApiError extends Error {
  constructor(status, kind, detail) {
    super(`${status} ${kind}: ${detail}`);
    this.status = status;
    this.kind = kind;
    this.detail = detail;
  }
}

function token() {
  return sessionStorage.getItem(TOKEN_KEY) || "";
}

async function api(path, { method = "GET", body } = {}) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (token()) headers.Authorization = `Bearer ${token()}`;
  const response = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  let payload = null;
  const text = await response.text();
  if (text) {
    try { payload = JSON.parse(text); } catch { payload = { detail: text }; }
  }
  if (!response.ok) {
    const kind = (payload && payload.error) || response.statusText || "error";
    const detail = (payload && (payload.detail || payload.message)) || "";
    throw new ApiError(response.status, kind, typeof detail === "string" ? detail : JSON.stringify(detail));
  }
  return payload;
}

const modelPath = (suffix = "") => `/v1/models/${encodeURIComponent(state.model)}${suffix}`;

function showError(err) {
  const banner = $("banner");
  if (!err) { banner.hidden = true; banner.textContent = ""; return; }
  let text = err.message || String(err);
  if (err instanceof ApiError && err.status === 401) {
    text = "This server requires a bearer token for this action: enter it in the Token field and press Load.";
  } else if (err instanceof ApiError && err.status === 403) {
    text = "The token was refused by the server (403).";
  }
  banner.textContent = text;
  banner.hidden = false;
}

// ---------------------------------------------------------------- helpers

// Finds the first value under `key` anywhere in a JSON document (depth-first, bounded).
function findKey(doc, key, depth = 0) {
  if (!doc || typeof doc !== "object" || depth > 6) return undefined;
  if (!Array.isArray(doc) && Object.prototype.hasOwnProperty.call(doc, key)) return doc[key];
  for (const value of Object.values(doc)) {
    const found = findKey(value, key, depth + 1);
    if (found !== undefined) return found;
  }
  return undefined;
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else node.setAttribute(k, v);
  }
  for (const child of children) node.append(child);
  return node;
}

function svg(tag, attrs = {}, text) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

const pct = (x) => (x === null || x === undefined || Number.isNaN(x) ? "–" : `${(100 * x).toFixed(1)} %`);
const num = (x, digits = 3) => (typeof x === "number" ? Number(x.toPrecision(digits)).toString() : String(x));

function shortTime(value) {
  if (!value) return "";
  const date = typeof value === "number" ? new Date(value < 1e12 ? value * 1000 : value) : new Date(value);
  if (Number.isNaN(date.getTime())) return String(value);
  return date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23" });
}

function timeValue(value) {
  if (value === undefined || value === null) return NaN;
  if (typeof value === "number") return value < 1e12 ? value * 1000 : value;
  return new Date(value).getTime();
}

// ---------------------------------------------------------------- prediction records

function className(value) {
  if (value === null || value === undefined) return "?";
  if (typeof value === "number" && state.classNames && state.classNames[value] !== undefined) {
    return state.classNames[value];
  }
  return String(value);
}

function predictedValue(record) {
  if (record.predicted_label !== undefined && record.predicted_label !== null) return record.predicted_label;
  const out = record.prediction !== undefined ? record.prediction
    : record.outputs !== undefined ? record.outputs : record.output;
  if (Array.isArray(out)) return out.length === 1 ? out[0] : out;
  if (out && typeof out === "object") {
    for (const key of ["label", "class", "prediction", "predicted_class"]) {
      if (out[key] !== undefined) return out[key];
    }
  }
  return out;
}

function probability(record) {
  const proba = findKey(record, "probabilities") ?? findKey(record, "proba") ?? findKey(record, "probability");
  if (proba === undefined || proba === null) return null;
  if (typeof proba === "number") return proba;
  const flat = Array.isArray(proba[0]) ? proba[0] : proba;
  if (Array.isArray(flat) && flat.length) return Math.max(...flat);
  return null;
}

// Several feedback records may exist for one prediction (a verdict, later a rating): the latest value
// of each field wins.
function latestFeedback(record) {
  const fb = record.feedback;
  if (!fb) return null;
  const list = Array.isArray(fb) ? fb : [fb];
  if (!list.length) return null;
  const merged = {};
  for (const item of list) {
    for (const [key, value] of Object.entries(item)) if (value !== null && value !== undefined) merged[key] = value;
  }
  return merged;
}

function labelOf(feedback) {
  if (!feedback) return undefined;
  return feedback.label ?? feedback.true_label;
}

// Was the prediction right, according to the latest feedback? null when nobody said.
function correctness(record) {
  const fb = latestFeedback(record);
  if (!fb) return null;
  if (typeof fb.correct === "boolean") return fb.correct;
  const label = labelOf(fb);
  if (label === undefined || label === null) return null;
  return String(className(label)) === String(className(predictedValue(record)));
}

function normalise(record) {
  return {
    raw: record,
    id: record.prediction_id ?? record.id,
    time: record.created_at ?? record.timestamp ?? record.time,
    version: record.model_version ?? record.version ?? "",
    inputs: record.inputs ?? record.instance ?? record.input,
    predicted: predictedValue(record),
    proba: probability(record),
    feedback: latestFeedback(record),
    correct: correctness(record),
    explanation: record.explanation ?? record.explanation_summary ?? null,
  };
}

// ---------------------------------------------------------------- explanation pictures

// Returns [{feature, value, weight}] for SHAP-like explanations, or null. `inputs` gives feature values.
function attributions(explanation, predicted, inputs) {
  if (!explanation) return null;
  const names = findKey(explanation, "feature_names") || state.featureNames || [];
  const row = Array.isArray(inputs) && Array.isArray(inputs[0]) ? inputs[0] : inputs;
  const valueOf = (feature, i) => {
    if (!Array.isArray(row)) return undefined;
    const index = names.indexOf(feature);
    return row[index >= 0 ? index : i];
  };
  let values = findKey(explanation, "shap_values");
  if (Array.isArray(values) && values.length) {
    // One array of per-feature values per class (Alibi may add an instance axis): take the predicted class.
    const explained = findKey(explanation, "predicted_class");
    const classIndex = typeof explained === "number" ? explained : typeof predicted === "number" ? predicted : 0;
    if (Array.isArray(values[0])) values = values[Math.min(classIndex, values.length - 1)];
    if (Array.isArray(values[0])) values = values[0];
    return values.map((weight, i) => ({
      feature: names[i] ?? `feature ${i}`, value: Array.isArray(row) ? row[i] : undefined, weight: Number(weight),
    }));
  }
  const listed = findKey(explanation, "top_features") ?? findKey(explanation, "attributions")
    ?? findKey(explanation, "feature_attributions");
  if (Array.isArray(listed) && listed.length && typeof listed[0] === "object") {
    return listed.map((item, i) => {
      const feature = item.feature ?? item.name ?? names[i] ?? `feature ${i}`;
      const weight = item.weight ?? item.attribution ?? item.shap_value ?? item.contribution ?? item.value;
      return { feature, value: valueOf(feature, i), weight: Number(weight) };
    });
  }
  if (listed && typeof listed === "object" && !Array.isArray(listed)) {
    return Object.entries(listed).map(([feature, weight], i) => ({ feature, value: valueOf(feature, i), weight: Number(weight) }));
  }
  return null;
}

function anchorOf(explanation) {
  if (!explanation) return null;
  const anchor = findKey(explanation, "anchor");
  if (!Array.isArray(anchor)) return null;
  return {
    rule: anchor,
    precision: findKey(explanation, "precision"),
    coverage: findKey(explanation, "coverage"),
  };
}

function attributionChart(items) {
  const top = [...items].sort((a, b) => Math.abs(b.weight) - Math.abs(a.weight)).slice(0, 10);
  const width = 520, rowH = 20, labelW = 230, valueW = 52, top0 = 6;
  const height = top0 + rowH * top.length + 18;
  const maxAbs = Math.max(...top.map((t) => Math.abs(t.weight)), 1e-12);
  const plotW = width - labelW - valueW;
  const zeroX = labelW + plotW / 2;
  const scale = (plotW / 2) / maxAbs;
  const root = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img",
    "aria-label": "Feature attributions (SHAP)", "data-kind": "shap" });
  root.append(svg("line", { class: "axis", x1: zeroX, x2: zeroX, y1: top0 - 2, y2: height - 16 }));
  top.forEach((item, i) => {
    const y = top0 + i * rowH;
    const w = Math.abs(item.weight) * scale;
    const x = item.weight >= 0 ? zeroX : zeroX - w;
    const label = item.value === undefined ? item.feature : `${item.feature} = ${num(item.value)}`;
    root.append(svg("text", { x: labelW - 6, y: y + 14, "text-anchor": "end" }, label));
    root.append(svg("rect", { x, y: y + 3, width: Math.max(w, 1), height: rowH - 6, rx: 2,
      fill: item.weight >= 0 ? "var(--pos)" : "var(--neg)" }));
    root.append(svg("text", { x: width - 4, y: y + 14, "text-anchor": "end" }, num(item.weight, 2)));
  });
  root.append(svg("text", { x: zeroX, y: height - 3, "text-anchor": "middle", fill: "var(--muted)" },
    "← lowers · contribution to the predicted class · raises →"));
  return root;
}

function meter(label, value) {
  const fill = el("div", { class: "fill" });
  fill.style.width = `${Math.max(0, Math.min(1, Number(value) || 0)) * 100}%`;
  return el("div", { class: "meter" }, el("span", { text: label }), el("div", { class: "bar" }, fill),
    el("span", { text: pct(value) }));
}

function renderExplanation(container, explanation, predicted, inputs) {
  container.replaceChildren();
  if (!explanation) {
    container.append(el("p", { class: "muted", text: "No explanation recorded for this prediction. Press Explain." }));
    return;
  }
  const anchor = anchorOf(explanation);
  if (anchor) {
    const rule = el("div", { class: "anchor-rule", "data-kind": "anchor" });
    rule.append(el("span", { class: "kw", text: "IF " }));
    anchor.rule.forEach((cond, i) => {
      if (i) rule.append(el("span", { class: "kw", text: " AND " }));
      rule.append(el("span", { class: "cond", text: cond }));
    });
    if (!anchor.rule.length) rule.append(el("span", { class: "cond", text: "(any input)" }));
    rule.append(el("span", { class: "kw", text: " THEN " }), el("span", { class: "class-chip", text: className(predicted) }));
    container.append(rule, meter("Precision", anchor.precision), meter("Coverage", anchor.coverage));
    return;
  }
  const items = attributions(explanation, predicted, inputs);
  if (items && items.length) {
    container.append(attributionChart(items));
    container.append(el("div", { class: "legend" },
      el("span", { class: "sw", style: "background: var(--pos)" }), "pushes towards the prediction",
      el("span", { class: "sw", style: "background: var(--neg)" }), "pushes away"));
    return;
  }
  container.append(el("pre", { text: JSON.stringify(explanation, null, 1).slice(0, 2000) }));
}

// ---------------------------------------------------------------- charts: accuracy and history

const VERSION_COLOURS = ["#34495e", "#16a085", "#8e44ad", "#d35400", "#2980b9", "#c0392b"];

function versionColour(version, versions) {
  const index = versions.indexOf(version);
  return VERSION_COLOURS[(index < 0 ? 0 : index) % VERSION_COLOURS.length];
}

function versionOrder() {
  const byVersion = (state.stats && state.stats.by_version) || [];
  const seen = byVersion.map((v) => v.model_version);
  for (const p of [...state.predictions].reverse()) if (p.version && !seen.includes(p.version)) seen.push(p.version);
  return seen.sort((a, b) => String(a).localeCompare(String(b), undefined, { numeric: true }));
}

// Rolling accuracy over the labelled predictions on this page, in time order, one colour per version.
function renderAccuracyChart() {
  const box = $("accuracy-chart");
  box.replaceChildren();
  const labelled = state.predictions.filter((p) => p.correct !== null)
    .sort((a, b) => timeValue(a.time) - timeValue(b.time));
  if (!labelled.length) {
    box.append(el("p", { class: "muted", text: "No labelled feedback yet." }));
    return;
  }
  const versions = versionOrder();
  const points = labelled.map((p, i) => {
    const recent = labelled.slice(Math.max(0, i - ROLLING_WINDOW + 1), i + 1);
    return { x: i, y: recent.filter((r) => r.correct).length / recent.length, version: p.version };
  });
  const width = 360, height = 150, left = 34, right = 8, top = 8, bottom = 22;
  const plotW = width - left - right, plotH = height - top - bottom;
  const sx = (i) => left + (points.length === 1 ? plotW / 2 : (i / (points.length - 1)) * plotW);
  const sy = (y) => top + (1 - y) * plotH;
  const root = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": "Accuracy over time" });
  for (const tick of [0, 0.5, 1]) {
    root.append(svg("line", { class: "grid", x1: left, x2: width - right, y1: sy(tick), y2: sy(tick) }));
    root.append(svg("text", { x: left - 4, y: sy(tick) + 4, "text-anchor": "end" }, `${tick * 100}%`));
  }
  for (let i = 1; i < points.length; i++) {
    const a = points[i - 1], b = points[i];
    root.append(svg("line", { x1: sx(a.x), y1: sy(a.y), x2: sx(b.x), y2: sy(b.y),
      stroke: versionColour(b.version, versions), "stroke-width": 2 }));
    if (a.version !== b.version) {
      root.append(svg("line", { class: "axis", x1: sx(b.x), x2: sx(b.x), y1: top, y2: top + plotH, "stroke-dasharray": "3 3" }));
      root.append(svg("text", { x: sx(b.x) + 3, y: top + 10 }, `→ ${b.version}`));
    }
  }
  points.forEach((p) => root.append(svg("circle", { cx: sx(p.x), cy: sy(p.y), r: 2.2, fill: versionColour(p.version, versions) })));
  root.append(svg("text", { x: left + plotW / 2, y: height - 5, "text-anchor": "middle", fill: "var(--muted)" },
    `labelled predictions, oldest → newest (rolling ${ROLLING_WINDOW})`));
  box.append(root);
}

// One bar per model version: windowed feedback accuracy, with labelled / prediction counts.
function renderHistoryChart() {
  const box = $("history-chart");
  box.replaceChildren();
  const byVersion = ((state.stats && state.stats.by_version) || []).slice()
    .sort((a, b) => String(a.model_version).localeCompare(String(b.model_version), undefined, { numeric: true }));
  if (!byVersion.length) {
    box.append(el("p", { class: "muted", text: "No version history yet." }));
    return;
  }
  const versions = byVersion.map((v) => v.model_version);
  const width = 360, height = 160, left = 34, top = 16, bottom = 40;
  const plotW = width - left - 8, plotH = height - top - bottom;
  const slot = plotW / byVersion.length;
  const barW = Math.min(46, slot * 0.6);
  const root = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": "Accuracy per model version" });
  for (const tick of [0, 0.5, 1]) {
    const y = top + (1 - tick) * plotH;
    root.append(svg("line", { class: "grid", x1: left, x2: width - 8, y1: y, y2: y }));
    root.append(svg("text", { x: left - 4, y: y + 4, "text-anchor": "end" }, `${tick * 100}%`));
  }
  byVersion.forEach((v, i) => {
    const cx = left + slot * (i + 0.5);
    const served = state.stats && v.model_version === state.stats.model_version;
    if (i > 0) root.append(svg("text", { x: cx - slot / 2, y: top + plotH + 14, "text-anchor": "middle", fill: "var(--muted)" }, "→"));
    if (typeof v.accuracy === "number") {
      const h = v.accuracy * plotH;
      root.append(svg("rect", { x: cx - barW / 2, y: top + plotH - h, width: barW, height: Math.max(h, 1), rx: 2,
        fill: versionColour(v.model_version, versions), opacity: served ? 1 : 0.65 }));
      root.append(svg("text", { x: cx, y: top + plotH - h - 3, "text-anchor": "middle" }, pct(v.accuracy)));
    } else {
      root.append(svg("text", { x: cx, y: top + plotH - 3, "text-anchor": "middle", fill: "var(--muted)" }, "no labels"));
    }
    root.append(svg("text", { x: cx, y: top + plotH + 14, "text-anchor": "middle", "font-weight": served ? "700" : "400" },
      `${v.model_version}${served ? " (served)" : ""}`));
    root.append(svg("text", { x: cx, y: top + plotH + 28, "text-anchor": "middle", fill: "var(--muted)" },
      `${v.labelled_count ?? 0} labelled / ${v.predictions ?? 0} pred.`));
  });
  box.append(root);
}

// ---------------------------------------------------------------- rendering

function renderFigures() {
  const s = state.stats || {};
  $("fig-version").textContent = s.model_version ?? "–";
  $("fig-accuracy").textContent = pct(s.accuracy);
  $("fig-labelled").textContent = s.labelled_count ?? "–";
  $("fig-predictions").textContent = s.predictions ?? "–";
  $("fig-rating").textContent = typeof s.mean_explanation_rating === "number"
    ? `${s.mean_explanation_rating.toFixed(2)} / 5 (${s.explanation_ratings})` : "–";
}

function feedbackTags(p) {
  const cell = el("td");
  if (p.correct === true) cell.append(el("span", { class: "tag ok", text: "correct" }));
  else if (p.correct === false) {
    const label = labelOf(p.feedback);
    cell.append(el("span", { class: "tag wrong", text: label === undefined || label === null ? "wrong" : `wrong → ${className(label)}` }));
  }
  const rating = p.feedback && p.feedback.explanation_rating;
  if (rating) cell.append(" ", el("span", { class: "tag rated", text: `★ ${rating}` }));
  return cell;
}

function renderList() {
  const body = $("prediction-rows");
  body.replaceChildren();
  $("list-empty").hidden = state.predictions.length > 0;
  for (const p of state.predictions.slice(0, LIST_ROWS)) {
    const row = el("tr", { "data-prediction-id": p.id },
      el("td", { text: shortTime(p.time) }),
      el("td", { text: className(p.predicted) + (p.proba ? ` ${pct(p.proba)}` : "") }),
      el("td", { text: p.version }),
      feedbackTags(p));
    if (p.id === state.selectedId) row.classList.add("active");
    row.addEventListener("click", () => select(p.id));
    body.append(row);
  }
}

function feedbackSummary(p) {
  const fb = p.feedback;
  if (!fb) return "No feedback yet.";
  const parts = [];
  if (p.correct === true) parts.push("marked correct");
  if (p.correct === false) {
    const label = labelOf(fb);
    parts.push(label === undefined || label === null ? "marked wrong" : `marked wrong, true label ${className(label)}`);
  }
  if (fb.explanation_rating) parts.push(`explanation rated ${fb.explanation_rating}/5`);
  if (fb.comment) parts.push(`“${fb.comment}”`);
  return parts.length ? `Feedback so far: ${parts.join(", ")}` : "No feedback yet.";
}

function selected() {
  return state.predictions.find((p) => p.id === state.selectedId) || null;
}

function renderDetail() {
  const p = selected();
  $("detail").hidden = !p;
  $("detail-empty").hidden = !!p;
  if (!p) return;
  $("detail-class").textContent = className(p.predicted);
  $("detail-proba").textContent = p.proba ? `probability ${pct(p.proba)}` : "";
  $("detail-version").textContent = p.version;
  $("detail-id").textContent = p.id;
  $("detail-feedback").textContent = feedbackSummary(p);
  renderExplanation($("explanation"), state.explanations.get(p.id) || p.explanation, p.predicted, p.inputs);
  const inputs = $("detail-inputs");
  inputs.replaceChildren();
  const values = Array.isArray(p.inputs) && Array.isArray(p.inputs[0]) ? p.inputs[0] : p.inputs;
  if (Array.isArray(values)) {
    values.forEach((v, i) => inputs.append(el("tr", {}, el("td", { text: (state.featureNames || [])[i] ?? `feature ${i}` }), el("td", { text: num(v, 4) }))));
  } else if (values && typeof values === "object") {
    for (const [k, v] of Object.entries(values)) inputs.append(el("tr", {}, el("td", { text: k }), el("td", { text: num(v, 4) })));
  }
}

function resetFeedbackForm() {
  state.verdict = null;
  $("mark-correct").classList.remove("selected");
  $("mark-wrong").classList.remove("selected");
  $("true-label-box").hidden = true;
  for (const radio of document.querySelectorAll('input[name="rating"]')) radio.checked = false;
  $("comment").value = "";
  $("feedback-result").textContent = "";
}

function fillLabelChoices(p) {
  const select = $("true-label");
  select.replaceChildren();
  const names = state.classNames || [];
  names.forEach((name, index) => select.append(el("option", { value: String(index), text: name })));
  // Default to the first class that differs from the prediction: "wrong" on a binary task means the other one.
  const other = names.findIndex((n) => String(n) !== String(className(p.predicted)));
  if (other >= 0) select.value = String(other);
}

function select(id) {
  state.selectedId = id;
  resetFeedbackForm();
  const p = selected();
  if (p) fillLabelChoices(p);
  renderList();
  renderDetail();
}

// ---------------------------------------------------------------- actions

async function loadMetadata() {
  state.classNames = null;
  state.featureNames = null;
  for (const path of [modelPath(), `/v2/models/${encodeURIComponent(state.model)}`]) {
    try {
      const meta = await api(path);
      state.classNames = state.classNames || findKey(meta, "class_names") || null;
      state.featureNames = state.featureNames || findKey(meta, "feature_names") || null;
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) throw err;
    }
  }
}

async function refresh() {
  if (!state.model) return;
  try {
    const [stats, listing] = await Promise.all([
      api(`${modelPath("/feedback/stats")}?window=100`),
      api(`${modelPath("/predictions")}?limit=${HISTORY_ROWS}`),
    ]);
    state.stats = stats;
    const records = Array.isArray(listing) ? listing : listing.predictions || listing.items || [];
    state.classNames = state.classNames || findKey(listing, "class_names") || null;
    state.featureNames = state.featureNames || findKey(listing, "feature_names") || null;
    state.predictions = records.map(normalise);
    if (!state.classNames) {
      const seen = [...new Set(state.predictions.map((p) => p.predicted).filter((v) => typeof v !== "object"))];
      if (seen.every((v) => typeof v === "number")) state.classNames = Array.from({ length: Math.max(2, ...seen.map((v) => v + 1)) }, (_, i) => String(i));
    }
    showError(null);
  } catch (err) {
    showError(err);
  }
  renderFigures();
  renderList();
  renderAccuracyChart();
  renderHistoryChart();
  await refreshMonitoring(); // monitoring.js
  if (state.selectedId && !selected()) state.selectedId = null;
  renderDetail();
  document.body.dataset.loaded = "true";
}

async function connect(event) {
  if (event) event.preventDefault();
  state.model = $("model-name").value.trim();
  sessionStorage.setItem(MODEL_KEY, state.model);
  sessionStorage.setItem(TOKEN_KEY, $("token").value);
  state.selectedId = null;
  state.explanations.clear();
  try {
    await loadMetadata();
  } catch (err) {
    showError(err);
    return;
  }
  await refresh();
}

async function explainSelected() {
  const p = selected();
  if (!p) return;
  const button = $("explain");
  button.disabled = true;
  button.textContent = "Explaining…";
  try {
    const values = Array.isArray(p.inputs) && Array.isArray(p.inputs[0]) ? p.inputs[0] : p.inputs;
    const answer = await api(modelPath(":explain"), { method: "POST", body: { instances: [values] } });
    const explanation = Array.isArray(answer.explanations) ? answer.explanations[0] : answer;
    state.explanations.set(p.id, explanation);
    renderDetail();
  } catch (err) {
    showError(err);
  } finally {
    button.disabled = false;
    button.textContent = "Explain";
  }
}

function chooseVerdict(verdict) {
  state.verdict = verdict;
  $("mark-correct").classList.toggle("selected", verdict === "correct");
  $("mark-wrong").classList.toggle("selected", verdict === "wrong");
  $("true-label-box").hidden = verdict !== "wrong";
}

// The label is sent in the same form the model predicts: a class index when it predicts indices.
function labelPayload(p, index) {
  if (typeof p.predicted === "string" && state.classNames) return state.classNames[index];
  return index;
}

async function submitFeedback() {
  const p = selected();
  if (!p) return;
  const record = { prediction_id: p.id, source: "console" };
  const classIndex = (state.classNames || []).findIndex((n) => String(n) === String(className(p.predicted)));
  if (state.verdict === "correct") {
    record.correct = true;
    if (classIndex >= 0) record.label = labelPayload(p, classIndex);
  } else if (state.verdict === "wrong") {
    record.correct = false;
    record.label = labelPayload(p, Number($("true-label").value));
  }
  const rating = document.querySelector('input[name="rating"]:checked');
  if (rating) record.explanation_rating = Number(rating.value);
  const comment = $("comment").value.trim();
  if (comment) record.comment = comment;
  if (record.correct === undefined && record.explanation_rating === undefined && !comment) {
    $("feedback-result").textContent = "Choose Correct or Wrong, or rate the explanation, first.";
    return;
  }
  const button = $("submit-feedback");
  button.disabled = true;
  try {
    await api(modelPath("/feedback"), { method: "POST", body: record });
    showError(null);
    await refresh();
    $("feedback-result").textContent = "Thank you: feedback recorded.";
  } catch (err) {
    $("feedback-result").textContent = `Not recorded: ${err.message}`;
    showError(err);
  } finally {
    button.disabled = false;
  }
}

function start() {
  const params = new URLSearchParams(window.location.search);
  $("model-name").value = params.get("model") || sessionStorage.getItem(MODEL_KEY) || "";
  $("token").value = sessionStorage.getItem(TOKEN_KEY) || "";
  $("settings").addEventListener("submit", connect);
  $("refresh").addEventListener("click", refresh);
  $("explain").addEventListener("click", explainSelected);
  $("mark-correct").addEventListener("click", () => chooseVerdict("correct"));
  $("mark-wrong").addEventListener("click", () => chooseVerdict("wrong"));
  $("submit-feedback").addEventListener("click", submitFeedback);
  setInterval(() => { if (!document.hidden && document.activeElement !== $("comment")) refresh(); }, REFRESH_MS);
  if ($("model-name").value) connect();
  else discoverModel();
}

// A server serves one model; KServe's V1 listing names it, so the console can open without a ?model= link.
async function discoverModel() {
  try {
    const listing = await api("/v1/models");
    const models = (listing && listing.models) || [];
    const first = models.length ? (typeof models[0] === "string" ? models[0] : models[0].name) : "";
    if (first) {
      $("model-name").value = first;
      await connect();
      return;
    }
  } catch {
    // Fall through: the user types the model name.
  }
  document.body.dataset.loaded = "true";
}

document.addEventListener("DOMContentLoaded", start);
