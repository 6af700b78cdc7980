// The demo page's behaviour: calls /classify and /summarize with explanations and draws the answers.
"use strict";

const $ = (id) => document.getElementById(id);
const state = { tasks: [], text: "", classification: null, summary: null, label: null };

async function call(method, path, body) {
  const response = await fetch(path, {
    method,
    headers: body ? { "content-type": "application/json" } : {},
    body: body ? JSON.stringify(body) : undefined,
  });
  const data = await response.json();
  if (!response.ok) {
    const detail = typeof data.detail === "string" ? data.detail : data.detail.map((d) => d.msg).join("; ");
    throw new Error(`${response.status}: ${detail}`);
  }
  return data;
}

function signed(value) {
  return (value >= 0 ? "+" : "−") + Math.abs(value).toFixed(3);
}

async function classify() {
  const body = { text: state.text, explain: true, top_ngrams: 8 };
  if (state.label) body.explain_label = state.label;
  [state.classification] = (await call("POST", "/classify", body)).results;
}

async function summarize() {
  const body = { text: state.text, explain: true, max_sentences: Number($("length").value) };
  [state.summary] = (await call("POST", "/summarize", body)).results;
}

async function busy(work) {
  document.body.dataset.state = "busy";
  $("run").disabled = true;
  $("status").textContent = "";
  try {
    await work();
    render();
    document.body.dataset.state = "done";
  } catch (error) {
    $("status").textContent = error.message;
    document.body.dataset.state = "error";
  } finally {
    $("run").disabled = false;
  }
}

function analyze() {
  state.text = $("article").value;
  state.label = null;
  const work = [];
  if (state.tasks.includes("classify")) work.push(classify());
  if (state.tasks.includes("summarize")) work.push(summarize());
  return busy(() => Promise.all(work));
}

function render() {
  const classification = state.classification;
  $("categories").hidden = !classification;
  if (classification) renderCategories(classification);
  $("result").hidden = false;
  const ngrams = classification ? classification.explanation.ngrams : [];
  renderArticle(state.text, state.summary ? state.summary.sentences : [], ngrams);
}

function renderCategories(classification) {
  $("label").textContent = classification.label;
  $("explained-label").textContent = classification.explanation.label;
  const bars = Object.entries(classification.scores).map(([name, probability]) => {
    const bar = document.createElement("button");
    bar.type = "button";
    bar.className = "bar";
    bar.dataset.label = name;
    bar.classList.toggle("predicted", name === classification.label);
    bar.classList.toggle("explained", name === classification.explanation.label);
    bar.title = `show the n-grams behind ${name}`;
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
  const items = classification.explanation.ngrams.map((ngram) => {
    const item = document.createElement("li");
    item.append(span("text", ngram.text), " ", span("contribution", signed(ngram.contribution)));
    return item;
  });
  $("ngrams").replaceChildren(...items);
}

function span(className, text) {
  const element = document.createElement("span");
  element.className = className;
  element.textContent = text;
  return element;
}

// Summary sentences become <mark>s; inside and outside them, n-gram ranges become <span>s. N-grams never
// cross a sentence boundary, so the marks nest cleanly around them.
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
    mark.title = sentenceTitle(sentence);
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
    element.title = covering.map((n) => `“${n.text}” ${signed(n.contribution)}`).join("\n");
    parent.append(element);
  }
}

function sentenceTitle(sentence) {
  const lines = [`summary score ${sentence.score.toFixed(3)}`];
  const explanation = sentence.explanation;
  if (explanation) {
    const parts = Object.entries(explanation.parts).map(([name, value]) => `${name} ${signed(value)}`);
    lines.push(`logit ${signed(explanation.logit)} = ${parts.join(", ")}, bias ${signed(explanation.bias)}`);
  }
  return lines.join("\n");
}

async function start() {
  $("run").addEventListener("click", analyze);
  $("length").addEventListener("input", () => {
    $("length-value").textContent = $("length").value;
  });
  $("length").addEventListener("change", () => {
    if (state.text && state.tasks.includes("summarize")) busy(summarize);
  });
  try {
    const [model, examples] = await Promise.all([
      call("GET", "/v1/model"),
      call("GET", "/static/examples.json"),
    ]);
    state.tasks = model.tasks;
    $("model").textContent = `model ${model.name} (${model.version}): ${model.tasks.join(", ")}`;
    $("length").disabled = !model.tasks.includes("summarize");
    for (const [i, example] of examples.entries()) {
      const option = document.createElement("option");
      option.value = String(i);
      option.textContent = example.title;
      $("examples").append(option);
    }
    $("examples").addEventListener("change", () => {
      const example = examples[Number($("examples").value)];
      if (example) $("article").value = example.text;
    });
    document.body.dataset.state = "ready";
  } catch (error) {
    $("model").textContent = "the model is not ready";
    $("status").textContent = error.message;
    document.body.dataset.state = "error";
  }
}

start();
