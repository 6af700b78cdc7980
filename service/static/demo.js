// The demo page's behaviour: learns what the served model does from /v1/model, calls /classify and
// /summarize with explanations and draws the answers in words a reader can follow.
"use strict";

const $ = (id) => document.getElementById(id);
// In sessionStorage: the key lives as long as this browser tab, and no other tab or visit sees it.
const KEY = "textcnn-api-key";
// Below this share of known tokens the text is unlike the training data. BBC News test articles sit
// at 0.87 and above with the default model, a product review and German text below it.
const FAMILIAR = 0.9;
const NGRAMS_SHOWN = 8;
// The API lists the same words once per place they occur; asking for more leaves enough distinct ones.
const NGRAMS_ASKED = 24;
const MULTI_LABEL_BARS = 10;
const PARTS = {
  content: "its own words",
  context: "the sentences around it",
  document: "what the whole text is about",
  position: "where it stands in the text",
  salience: "how much it shares with the rest of the text",
  class: "the text's category",
};
const state = { model: null, text: "", classification: null, summary: null, label: null };

class HttpError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

function key() {
  return sessionStorage.getItem(KEY) || "";
}

async function call(method, path, body) {
  const headers = {};
  if (body) headers["content-type"] = "application/json";
  if (key()) headers.authorization = `Bearer ${key()}`;
  let response;
  try {
    response = await fetch(path, { method, headers, body: body ? JSON.stringify(body) : undefined });
  } catch {
    throw new HttpError(0, "The server does not answer. Is it still running?");
  }
  const data = await response.json().catch(() => ({}));
  if (!response.ok) {
    const detail = typeof data.detail === "string" ? data.detail : (data.detail || []).map((d) => d.msg).join("; ");
    throw new HttpError(response.status, detail || response.statusText);
  }
  return data;
}

function can(task) {
  return state.model !== null && state.model.tasks.includes(task);
}

function setStatus(text, kind = "info") {
  $("status").textContent = text;
  $("status").dataset.kind = kind;
}

function percent(share) {
  return `${Math.round(100 * share)}%`;
}

// What the user reads for an error: a missing or refused key opens the key field.
function explainError(error) {
  if (error.status === 401) {
    $("key-form").hidden = false;
    document.body.dataset.state = "needs-key";
    const message = key()
      ? "The server did not accept this API key. Enter a valid one above."
      : "This server needs an API key. Enter it above.";
    setStatus(message, "error");
    $("key").focus();
    return;
  }
  document.body.dataset.state = "error";
  setStatus(error.status ? `The server answered ${error.status}: ${error.message}` : error.message, "error");
}

async function classify() {
  const body = { text: state.text, explain: true, top_ngrams: NGRAMS_ASKED, offsets: "utf16" };
  if (state.label) body.explain_label = state.label;
  // A multi-label model may know many labels: the bars show the most probable ones.
  if (state.model.multi_label) body.top_k = MULTI_LABEL_BARS;
  [state.classification] = (await call("POST", "/classify", body)).results;
}

async function summarize() {
  const body = { text: state.text, explain: true, max_sentences: Number($("length").value), offsets: "utf16" };
  [state.summary] = (await call("POST", "/summarize", body)).results;
}

async function busy(work) {
  document.body.dataset.state = "busy";
  $("run").disabled = true;
  setStatus("Working…");
  try {
    await work();
    render();
    setStatus("");
    document.body.dataset.state = "done";
  } catch (error) {
    explainError(error);
  } finally {
    $("run").disabled = false;
  }
}

function analyze() {
  if (!$("article").value.trim()) {
    setStatus("Paste a text or pick an example first.", "error");
    $("article").focus();
    return Promise.resolve();
  }
  state.text = $("article").value;
  state.label = null;
  state.classification = null;
  state.summary = null;
  const work = [];
  if (can("classify")) work.push(classify());
  if (can("summarize")) work.push(summarize());
  return busy(() => Promise.all(work));
}

function render() {
  const classification = state.classification;
  $("categories").hidden = !classification;
  if (classification) renderCategories(classification);
  $("summary").hidden = !state.summary;
  if (state.summary) renderSummary(state.summary);
  $("result").hidden = false;
  const ngrams = classification ? classification.explanation.ngrams : [];
  renderArticle(state.text, state.summary ? state.summary.sentences : [], ngrams);
}

function renderCategories(classification) {
  const explained = classification.explanation;
  // Single-label models choose the most probable label; multi-label ones every label at or above
  // its threshold, maybe several, maybe none.
  const chosen = classification.labels ? classification.labels.map((l) => l.label) : [classification.label];
  $("label-heading").textContent = classification.labels ? "Labels: " : "Category: ";
  $("label").textContent = chosen.length ? chosen.join(", ") : "none";
  $("confidence").textContent = classification.labels
    ? chosenText(classification.labels)
    : `The model gives it ${percent(classification.confidence)} probability.`;
  renderKnown(classification.known_token_share);
  $("explained-label").textContent = explained.label;
  const bars = Object.entries(classification.scores).map(([name, probability]) => {
    const bar = document.createElement("button");
    bar.type = "button";
    bar.className = "bar";
    bar.dataset.label = name;
    bar.classList.toggle("predicted", chosen.includes(name));
    bar.classList.toggle("explained", name === explained.label);
    bar.setAttribute("aria-pressed", String(name === explained.label));
    const fill = document.createElement("div");
    fill.className = "fill";
    fill.style.width = `${(100 * probability).toFixed(1)}%`;
    const track = document.createElement("div");
    track.className = "track";
    track.append(fill);
    bar.append(span("name", name), track, span("value", `${(100 * probability).toFixed(1)}%`));
    bar.addEventListener("click", () => {
      state.label = name;
      busy(classify);
    });
    return bar;
  });
  $("bars").replaceChildren(...bars);
  const distinct = distinctNgrams(explained.ngrams).slice(0, NGRAMS_SHOWN);
  const items = distinct.map((ngram) => {
    const item = document.createElement("li");
    const times = ngram.count > 1 ? ` (${ngram.count} times)` : "";
    item.append(span("text", ngram.text), " ", span("strength", `${strength(ngram.share)} clue${times}`));
    return item;
  });
  if (items.length === 0) {
    const item = document.createElement("li");
    item.className = "none";
    item.textContent = "Nothing in the text speaks for it.";
    items.push(item);
  }
  $("ngrams").replaceChildren(...items);
}

function renderKnown(share) {
  const known = $("known");
  known.classList.toggle("warning", share < FAMILIAR);
  if (share === 0) {
    known.textContent = "The model knows none of these words: the category above is a guess.";
  } else if (share < FAMILIAR) {
    known.textContent =
      `The model knows only ${percent(share)} of these words. The text is unlike what it was trained ` +
      "on, so the category above may be wrong, however sure it looks.";
  } else {
    known.textContent = `The model knows ${percent(share)} of these words.`;
  }
}

// The same words at several places are one clue: their contributions add up.
function distinctNgrams(ngrams) {
  const byTokens = new Map();
  for (const n of ngrams) {
    const id = n.tokens.join(" ");
    const seen = byTokens.get(id);
    if (seen) {
      seen.contribution += n.contribution;
      seen.count += 1;
    } else {
      byTokens.set(id, { text: n.text, contribution: n.contribution, count: 1 });
    }
  }
  const distinct = [...byTokens.values()].sort((a, b) => b.contribution - a.contribution);
  const strongest = distinct.length ? distinct[0].contribution : 1;
  return distinct.map((n) => ({ ...n, share: n.contribution / strongest }));
}

function strength(share) {
  if (share >= 0.6) return "strong";
  if (share >= 0.3) return "fair";
  return "weak";
}

function renderSummary(summary) {
  $("summary-text").value = summary.summary;
  $("copied").textContent = "";
  const items = summary.sentences.map((sentence) => {
    const item = document.createElement("li");
    item.dataset.index = sentence.index;
    item.append(
      span("sentence", sentence.text),
      document.createElement("br"),
      span("reason", sentenceReason(sentence)),
    );
    return item;
  });
  if (items.length === 0) {
    const item = document.createElement("li");
    item.className = "none";
    item.textContent = "The text has no sentences to choose from.";
    items.push(item);
  }
  $("reasons").replaceChildren(...items);
}

// A sentence's score in words: how likely it belongs in a summary, and the two parts of the text that
// raised that most (the explanation splits the score exactly into parts).
function sentenceReason(sentence) {
  const words = [`Sentence ${sentence.index + 1}, ${percent(sentence.score)} likely to belong in a summary`];
  const explanation = sentence.explanation;
  if (explanation) {
    const raising = Object.entries(explanation.parts)
      .filter(([, value]) => value > 0)
      .sort((a, b) => b[1] - a[1])
      .slice(0, 2)
      .map(([name]) => PARTS[name] || name);
    if (raising.length) words.push(`, mostly for ${raising.join(" and ")}`);
  }
  return `${words.join("")}.`;
}

function span(className, text) {
  const element = document.createElement("span");
  element.className = className;
  element.textContent = text;
  return element;
}

// Summary sentences become <mark>s; inside and outside them, n-gram ranges become <span>s. N-grams never
// cross a sentence boundary, so the marks nest cleanly around them. Offsets are UTF-16 code units (the
// requests ask for them), the unit JavaScript strings are indexed in.
function renderArticle(text, sentences, ngrams) {
  const view = $("view");
  view.replaceChildren();
  const strongest = Math.max(...ngrams.map((n) => n.contribution), 1e-9);
  let position = 0;
  for (const sentence of sentences) {
    appendRange(view, text, position, sentence.start, ngrams, strongest);
    const mark = document.createElement("mark");
    mark.className = "summary";
    mark.dataset.index = sentence.index;
    mark.dataset.score = sentence.score;
    mark.title = sentenceReason(sentence);
    appendRange(mark, text, sentence.start, sentence.end, ngrams, strongest);
    view.append(mark);
    position = sentence.end;
  }
  appendRange(view, text, position, text.length, ngrams, strongest);
}

function appendRange(parent, text, start, end, ngrams, strongest) {
  const inside = ngrams.filter((n) => n.start < end && n.end > start);
  const cuts = new Set([start, end]);
  for (const n of inside) {
    cuts.add(Math.max(n.start, start));
    cuts.add(Math.min(n.end, end));
  }
  const points = [...cuts].sort((a, b) => a - b);
  for (let i = 0; i + 1 < points.length; i++) {
    const [from, to] = [points[i], points[i + 1]];
    const covering = inside.filter((n) => n.start <= from && n.end >= to);
    if (covering.length === 0) {
      parent.append(text.slice(from, to));
      continue;
    }
    const element = span("ngram", text.slice(from, to));
    const best = Math.max(...covering.map((n) => n.contribution));
    element.style.setProperty("--strength", (best / strongest).toFixed(3));
    element.title = `${strength(best / strongest)} clue for ${state.classification.explanation.label}`;
    parent.append(element);
  }
}

async function copySummary() {
  const box = $("summary-text");
  try {
    await navigator.clipboard.writeText(box.value);
  } catch {
    // Without clipboard access the text is selected, ready for the user's own copy.
    box.select();
    document.execCommand("copy");
  }
  $("copied").textContent = "Copied.";
}

function chosenText(labels) {
  if (!labels.length) return "No label reaches its threshold; the bars show the most probable ones.";
  const each = labels.map((l) => `${l.label} ${percent(l.probability)}`).join(", ");
  return `Each label is chosen where its probability reaches its threshold, learned on dev: ${each}.`;
}

// The page follows the model: its tasks decide the button, the slider and the legend.
function showModel(model) {
  state.model = model;
  const verbs = [can("classify") && "classify", can("summarize") && "summarize"].filter(Boolean);
  const action = verbs.join(" and ");
  $("run").textContent = action.charAt(0).toUpperCase() + action.slice(1);
  $("model").textContent = `model ${model.name} (version ${model.version}): ${model.tasks.join(", ")}`;
  document.title = `textcnn: ${model.name}`;
  $("description").hidden = !model.description;
  $("description").textContent = model.description || "";
  $("length-control").hidden = !can("summarize");
  $("legend-summary").hidden = !can("summarize");
  $("legend-ngram").hidden = !can("classify");
  const labels = can("classify") ? ` It knows ${model.labels.length} categories: ${model.labels.join(", ")}.` : "";
  $("article").placeholder = `Paste a text to ${action}.${labels}`;
}

function showExamples(examples) {
  const select = $("examples");
  select.replaceChildren(select.options[0]);
  for (const [i, example] of examples.entries()) {
    const option = document.createElement("option");
    option.value = String(i);
    option.textContent = example.title;
    select.append(option);
  }
  $("picker").hidden = examples.length === 0;
  select.onchange = () => {
    const example = examples[Number(select.value)];
    if (example) $("article").value = example.text;
  };
}

async function waitUntilReady() {
  for (;;) {
    try {
      await call("GET", "/ready");
      return;
    } catch (error) {
      if (error.status !== 503) throw error;
      setStatus("The model is still loading…");
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  }
}

async function connect() {
  document.body.dataset.state = "loading";
  $("run").disabled = true;
  try {
    await waitUntilReady();
    const [model, examples] = await Promise.all([call("GET", "/v1/model"), call("GET", "/v1/model/examples")]);
    showModel(model);
    showExamples(examples);
    $("key-form").hidden = !key();
    $("run").disabled = false;
    setStatus("");
    document.body.dataset.state = "ready";
  } catch (error) {
    $("model").textContent = error.status === 401 ? "the model is ready; an API key is needed" : "no model";
    explainError(error);
  }
}

function start() {
  $("key").value = key();
  $("key-form").addEventListener("submit", (event) => {
    event.preventDefault();
    sessionStorage.setItem(KEY, $("key").value.trim());
    connect();
  });
  $("run").addEventListener("click", analyze);
  $("copy").addEventListener("click", copySummary);
  $("article").addEventListener("input", () => {
    // The text is no longer the example it started from.
    $("examples").value = "";
  });
  $("length").addEventListener("input", () => {
    $("length-value").textContent = $("length").value;
  });
  $("length").addEventListener("change", () => {
    if (state.text && can("summarize")) busy(summarize);
  });
  connect();
}

start();
