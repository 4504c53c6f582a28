// @ts-check
// ExplainOps feedback console: plain JavaScript, no build step, no external resources.
// It uses the same REST API as any other client and sends the bearer token when one is set.
// Types come from the server's OpenAPI document (`make lint` generates them and runs tsc on this file).
"use strict";

/** @typedef {import("explainops-api").components["schemas"]} Schemas */
/** @typedef {Schemas["PredictionListing"]} PredictionListing */
/** @typedef {Schemas["RecordedPrediction"]} RecordedPrediction */
/** @typedef {Schemas["RecordedFeedback"]} RecordedFeedback */
/** @typedef {Schemas["StatsOut"]} Stats */
/** @typedef {Schemas["MonitoringOut"]} Monitoring */
/** @typedef {Schemas["ExplainResponse"]} ExplainResponse */
/** @typedef {Schemas["ExplainResponse"]["explanations"][number] | NonNullable<RecordedPrediction["explanation"]>} AnyExplanation */
/** @typedef {Schemas["FeedbackIn"]} FeedbackIn */
/** @typedef {Schemas["ModelList"]} ModelList */
/** @typedef {Schemas["ErrorBody"]} ErrorBody */
/** @typedef {{feature: string, value: number | string | undefined, weight: number}} Bar */
/**
 * A recorded prediction as the page shows it.
 * @typedef {{raw: RecordedPrediction, id: string, time: number, version: string, inputs: (number | string)[],
 *   predicted: number | null, proba: number | null, feedback: Partial<RecordedFeedback> | null,
 *   correct: boolean | null, explanation: AnyExplanation | null}} Row
 */

const TOKEN_KEY = "explainops.console.token";
const MODEL_KEY = "explainops.console.model";
const SVG_NS = "http://www.w3.org/2000/svg";
const REFRESH_MS = 15000;
const ROLLING_WINDOW = 10;
const HISTORY_ROWS = 300; // predictions read for the accuracy chart
const LIST_ROWS = 100; // of which the list shows the newest

const state = {
  model: "",
  /** @type {string[]} */
  classNames: [],
  /** @type {string[]} */
  featureNames: [],
  /** @type {Row[]} */
  predictions: [],
  /** @type {string | null} */
  selectedId: null,
  /** @type {"correct" | "wrong" | null} */
  verdict: null,
  /** @type {Stats | null} */
  stats: null,
  /** @type {Monitoring | {status: "unavailable", note: string} | null} GET .../monitoring, or why it failed */
  monitoring: null,
  /** @type {Map<string, AnyExplanation>} prediction id -> explanation fetched in this page */
  explanations: new Map(),
};

/** @param {string} id */
function $(id) {
  const node = document.getElementById(id);
  if (!node) throw new Error(`missing element #${id}`);
  return node;
}
/** @param {string} id */
const input = (id) => /** @type {HTMLInputElement} */ ($(id));
/** @param {string} id */
const button = (id) => /** @type {HTMLButtonElement} */ ($(id));

// ---------------------------------------------------------------- REST client

class ApiError extends Error {
  /** @param {number} status @param {string} kind @param {string} detail */
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

/**
 * @template T
 * @param {string} path
 * @param {{method?: string, body?: unknown}} [options]
 * @returns {Promise<T>}
 */
async function api(path, { method = "GET", body } = {}) {
  /** @type {Record<string, string>} */
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (token()) headers.Authorization = `Bearer ${token()}`;
  const response = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  if (!response.ok) {
    /** @type {Partial<ErrorBody>} */
    let error = {};
    try { error = JSON.parse(text); } catch { error = { detail: text }; }
    throw new ApiError(response.status, error.error || response.statusText || "error", error.detail || "");
  }
  return JSON.parse(text);
}

const modelPath = (suffix = "") => `/v1/models/${encodeURIComponent(state.model)}${suffix}`;

/** @param {unknown} err */
function showError(err) {
  const banner = $("banner");
  if (!err) { banner.hidden = true; banner.textContent = ""; return; }
  let text = err instanceof Error ? err.message : String(err);
  if (err instanceof ApiError && err.status === 401) {
    text = "This server requires a bearer token for this action: enter it in the Token field and press Load.";
  }
  banner.textContent = text;
  banner.hidden = false;
}

// ---------------------------------------------------------------- helpers

/**
 * @param {string} tag
 * @param {Record<string, string>} [attrs]
 * @param {...(Node | string)} children
 */
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

/**
 * @param {string} tag
 * @param {Record<string, string | number>} [attrs]
 * @param {string} [text]
 */
function svg(tag, attrs = {}, text) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}

/** @param {number | null | undefined} x */
const pct = (x) => (x === null || x === undefined || Number.isNaN(x) ? "–" : `${(100 * x).toFixed(1)} %`);
/** @param {number | undefined} x */
const num = (x, digits = 3) => (typeof x === "number" ? Number(x.toPrecision(digits)).toString() : String(x));

/** @param {number} seconds since the epoch, as the server records time */
function shortTime(seconds) {
  return new Date(seconds * 1000).toLocaleTimeString([], {
    hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23",
  });
}

// ---------------------------------------------------------------- prediction records

/** @param {number | null | undefined} index */
function className(index) {
  if (index === null || index === undefined) return "?";
  return state.classNames[index] ?? String(index);
}

// Several feedback records may exist for one prediction (a verdict, later a rating): the latest value
// of each field wins.
/** @param {RecordedFeedback[]} list @returns {Partial<RecordedFeedback> | null} */
function latestFeedback(list) {
  if (!list.length) return null;
  /** @type {Record<string, unknown>} */
  const merged = {};
  for (const item of list) {
    for (const [key, value] of Object.entries(item)) if (value !== null && value !== undefined) merged[key] = value;
  }
  return /** @type {Partial<RecordedFeedback>} */ (merged);
}

// Was the prediction right, according to the latest feedback? null when nobody said.
/** @param {RecordedPrediction} record @param {Partial<RecordedFeedback> | null} fb */
function correctness(record, fb) {
  if (!fb) return null;
  if (typeof fb.correct === "boolean") return fb.correct;
  if (typeof fb.label !== "number") return null;
  return fb.label === record.predicted_label;
}

/** @param {RecordedPrediction} record @returns {Row} */
function normalise(record) {
  const feedback = latestFeedback(record.feedback);
  return {
    raw: record,
    id: record.prediction_id,
    time: record.created_at,
    version: record.model_version,
    inputs: record.inputs,
    predicted: record.predicted_label,
    proba: record.probabilities.length ? Math.max(...record.probabilities) : null,
    feedback,
    correct: correctness(record, feedback),
    explanation: record.explanation ?? null,
  };
}

// ---------------------------------------------------------------- explanation pictures

// Bars for a SHAP explanation: every feature of a full explanation, the top ones of a recorded summary.
/** @param {AnyExplanation} explanation @param {(number | string)[]} inputs @returns {Bar[] | null} */
function attributions(explanation, inputs) {
  if (explanation.type === "anchor") return null;
  const names = state.featureNames;
  if ("shap_values" in explanation) {
    const perClass = explanation.shap_values;
    const values = perClass[Math.min(explanation.predicted_class ?? 0, perClass.length - 1)];
    return values.map((weight, i) => ({ feature: explanation.feature_names[i] ?? `feature ${i}`, value: inputs[i], weight }));
  }
  return explanation.top_features.map((item) => ({
    feature: item.feature, value: inputs[names.indexOf(item.feature)], weight: item.value,
  }));
}

/** @param {Bar[]} items */
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
    const label = item.value === undefined ? item.feature : `${item.feature} = ${typeof item.value === "number" ? num(item.value) : item.value}`;
    root.append(svg("text", { x: labelW - 6, y: y + 14, "text-anchor": "end" }, label));
    root.append(svg("rect", { x, y: y + 3, width: Math.max(w, 1), height: rowH - 6, rx: 2,
      fill: item.weight >= 0 ? "var(--pos)" : "var(--neg)" }));
    root.append(svg("text", { x: width - 4, y: y + 14, "text-anchor": "end" }, num(item.weight, 2)));
  });
  root.append(svg("text", { x: zeroX, y: height - 3, "text-anchor": "middle", fill: "var(--muted)" },
    "← lowers · contribution to the predicted class · raises →"));
  return root;
}

/** @param {string} label @param {number} value */
function meter(label, value) {
  const fill = el("div", { class: "fill" });
  fill.style.width = `${Math.max(0, Math.min(1, value)) * 100}%`;
  return el("div", { class: "meter" }, el("span", { text: label }), el("div", { class: "bar" }, fill),
    el("span", { text: pct(value) }));
}

/** @param {HTMLElement} container @param {AnyExplanation | null} explanation @param {number | null} predicted @param {(number | string)[]} inputs */
function renderExplanation(container, explanation, predicted, inputs) {
  container.replaceChildren();
  if (!explanation) {
    container.append(el("p", { class: "muted", text: "No explanation recorded for this prediction. Press Explain." }));
    return;
  }
  if (explanation.type === "anchor") {
    const rule = el("div", { class: "anchor-rule", "data-kind": "anchor" });
    rule.append(el("span", { class: "kw", text: "IF " }));
    explanation.anchor.forEach((cond, i) => {
      if (i) rule.append(el("span", { class: "kw", text: " AND " }));
      rule.append(el("span", { class: "cond", text: cond }));
    });
    if (!explanation.anchor.length) rule.append(el("span", { class: "cond", text: "(any input)" }));
    rule.append(el("span", { class: "kw", text: " THEN " }), el("span", { class: "class-chip", text: className(predicted) }));
    container.append(rule, meter("Precision", explanation.precision), meter("Coverage", explanation.coverage));
    return;
  }
  const items = attributions(explanation, inputs);
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

/** @param {string} version @param {string[]} versions */
function versionColour(version, versions) {
  const index = versions.indexOf(version);
  return VERSION_COLOURS[(index < 0 ? 0 : index) % VERSION_COLOURS.length];
}

function versionOrder() {
  const seen = (state.stats ? state.stats.by_version : []).map((v) => v.model_version);
  for (const p of [...state.predictions].reverse()) if (p.version && !seen.includes(p.version)) seen.push(p.version);
  return seen.sort((a, b) => a.localeCompare(b, undefined, { numeric: true }));
}

// Rolling accuracy over the labelled predictions on this page, in time order, one colour per version.
function renderAccuracyChart() {
  const box = $("accuracy-chart");
  box.replaceChildren();
  const labelled = state.predictions.filter((p) => p.correct !== null).sort((a, b) => a.time - b.time);
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
  /** @param {number} i */
  const sx = (i) => left + (points.length === 1 ? plotW / 2 : (i / (points.length - 1)) * plotW);
  /** @param {number} y */
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
  const stats = state.stats;
  const byVersion = (stats ? stats.by_version : []).slice()
    .sort((a, b) => a.model_version.localeCompare(b.model_version, undefined, { numeric: true }));
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
    const served = stats !== null && v.model_version === stats.model_version;
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
      `${v.labelled_count} labelled / ${v.predictions} pred.`));
  });
  box.append(root);
}

// ---------------------------------------------------------------- rendering

function renderFigures() {
  const s = state.stats;
  $("fig-version").textContent = s ? s.model_version : "–";
  $("fig-accuracy").textContent = pct(s && s.accuracy);
  $("fig-labelled").textContent = s ? String(s.labelled_count) : "–";
  $("fig-predictions").textContent = s ? String(s.predictions) : "–";
  $("fig-rating").textContent = s && typeof s.mean_explanation_rating === "number"
    ? `${s.mean_explanation_rating.toFixed(2)} / 5 (${s.explanation_ratings})` : "–";
}

/** @param {Row} p */
function feedbackTags(p) {
  const cell = el("td");
  if (p.correct === true) cell.append(el("span", { class: "tag ok", text: "correct" }));
  else if (p.correct === false) {
    const label = p.feedback && p.feedback.label;
    cell.append(el("span", { class: "tag wrong", text: typeof label === "number" ? `wrong → ${className(label)}` : "wrong" }));
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

/** @param {Row} p */
function feedbackSummary(p) {
  const fb = p.feedback;
  if (!fb) return "No feedback yet.";
  const parts = [];
  if (p.correct === true) parts.push("marked correct");
  if (p.correct === false) {
    parts.push(typeof fb.label === "number" ? `marked wrong, true label ${className(fb.label)}` : "marked wrong");
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
  p.inputs.forEach((v, i) => inputs.append(el("tr", {},
    el("td", { text: state.featureNames[i] ?? `feature ${i}` }), el("td", { text: typeof v === "number" ? num(v, 4) : v }))));
}

function resetFeedbackForm() {
  state.verdict = null;
  $("mark-correct").classList.remove("selected");
  $("mark-wrong").classList.remove("selected");
  $("true-label-box").hidden = true;
  for (const radio of document.querySelectorAll('input[name="rating"]')) /** @type {HTMLInputElement} */ (radio).checked = false;
  input("comment").value = "";
  $("feedback-result").textContent = "";
}

/** @param {Row} p */
function fillLabelChoices(p) {
  const choice = /** @type {HTMLSelectElement} */ ($("true-label"));
  choice.replaceChildren();
  state.classNames.forEach((name, index) => choice.append(el("option", { value: String(index), text: name })));
  // Default to the first class that differs from the prediction: "wrong" on a binary task means the other one.
  const other = state.classNames.findIndex((_, index) => index !== p.predicted);
  if (other >= 0) choice.value = String(other);
}

/** @param {string} id */
function select(id) {
  state.selectedId = id;
  resetFeedbackForm();
  const p = selected();
  if (p) fillLabelChoices(p);
  renderList();
  renderDetail();
}

// ---------------------------------------------------------------- actions

async function refresh() {
  if (!state.model) return;
  try {
    const [stats, listing] = await Promise.all([
      /** @type {Promise<Stats>} */ (api(`${modelPath("/feedback/stats")}?window=100`)),
      /** @type {Promise<PredictionListing>} */ (api(`${modelPath("/predictions")}?limit=${HISTORY_ROWS}`)),
    ]);
    state.stats = stats;
    state.classNames = listing.class_names;
    state.featureNames = listing.feature_names;
    state.predictions = listing.predictions.map(normalise);
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

/** @param {Event} [event] */
async function connect(event) {
  if (event) event.preventDefault();
  state.model = input("model-name").value.trim();
  sessionStorage.setItem(MODEL_KEY, state.model);
  sessionStorage.setItem(TOKEN_KEY, input("token").value);
  state.selectedId = null;
  state.explanations.clear();
  try {
    await api(modelPath()); // 404 names an unknown model before anything else is asked
  } catch (err) {
    if (!(err instanceof ApiError) || err.status !== 401) {
      showError(err);
      return;
    }
  }
  await refresh();
}

async function explainSelected() {
  const p = selected();
  if (!p) return;
  const explain = button("explain");
  explain.disabled = true;
  explain.textContent = "Explaining…";
  try {
    /** @type {ExplainResponse} */
    const answer = await api(modelPath(":explain"), { method: "POST", body: { instances: [p.inputs] } });
    state.explanations.set(p.id, answer.explanations[0]);
    renderDetail();
  } catch (err) {
    showError(err);
  } finally {
    explain.disabled = false;
    explain.textContent = "Explain";
  }
}

/** @param {"correct" | "wrong"} verdict */
function chooseVerdict(verdict) {
  state.verdict = verdict;
  $("mark-correct").classList.toggle("selected", verdict === "correct");
  $("mark-wrong").classList.toggle("selected", verdict === "wrong");
  $("true-label-box").hidden = verdict !== "wrong";
}

async function submitFeedback() {
  const p = selected();
  if (!p) return;
  /** @type {FeedbackIn} */
  const record = { prediction_id: p.id, source: "console" };
  if (state.verdict === "correct") {
    record.correct = true;
    record.label = p.predicted;
  } else if (state.verdict === "wrong") {
    record.correct = false;
    record.label = Number(/** @type {HTMLSelectElement} */ ($("true-label")).value);
  }
  const rating = /** @type {HTMLInputElement | null} */ (document.querySelector('input[name="rating"]:checked'));
  if (rating) record.explanation_rating = Number(rating.value);
  const comment = input("comment").value.trim();
  if (comment) record.comment = comment;
  if (record.correct === undefined && record.explanation_rating === undefined && !comment) {
    $("feedback-result").textContent = "Choose Correct or Wrong, or rate the explanation, first.";
    return;
  }
  const submit = button("submit-feedback");
  submit.disabled = true;
  try {
    await api(modelPath("/feedback"), { method: "POST", body: record });
    showError(null);
    await refresh();
    $("feedback-result").textContent = "Thank you: feedback recorded.";
  } catch (err) {
    $("feedback-result").textContent = `Not recorded: ${err instanceof Error ? err.message : String(err)}`;
    showError(err);
  } finally {
    submit.disabled = false;
  }
}

function start() {
  const params = new URLSearchParams(window.location.search);
  input("model-name").value = params.get("model") || sessionStorage.getItem(MODEL_KEY) || "";
  input("token").value = sessionStorage.getItem(TOKEN_KEY) || "";
  $("settings").addEventListener("submit", connect);
  $("refresh").addEventListener("click", refresh);
  $("explain").addEventListener("click", explainSelected);
  $("mark-correct").addEventListener("click", () => chooseVerdict("correct"));
  $("mark-wrong").addEventListener("click", () => chooseVerdict("wrong"));
  $("submit-feedback").addEventListener("click", submitFeedback);
  setInterval(() => { if (!document.hidden && document.activeElement !== $("comment")) refresh(); }, REFRESH_MS);
  if (input("model-name").value) connect();
  else discoverModel();
}

// A server serves one model; KServe's V1 listing names it, so the console can open without a ?model= link.
async function discoverModel() {
  try {
    /** @type {ModelList} */
    const listing = await api("/v1/models");
    if (listing.models.length) {
      input("model-name").value = listing.models[0];
      await connect();
      return;
    }
  } catch {
    // Fall through: the user types the model name.
  }
  document.body.dataset.loaded = "true";
}

document.addEventListener("DOMContentLoaded", start);
