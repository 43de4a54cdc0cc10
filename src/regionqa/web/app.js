// The regionqa web page: plain DOM, no library. Document text is only ever put in text nodes
// (textContent, append of strings): the highlights come from the server as offsets, never as markup.
"use strict";

const MAX_ENTITY_ROWS = 200;
const $ = (selector) => document.querySelector(selector);

function element(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (className) node.className = className;
  return node;
}

class ApiError extends Error {
  constructor(message, status) {
    super(message);
    this.status = status;
  }
}

async function api(path, options = {}) {
  const reply = await fetch(path, { credentials: "same-origin", ...options });
  let data = null;
  try {
    data = await reply.json();
  } catch (_) {
    data = null;
  }
  if (!reply.ok) throw new ApiError((data && data.error) || `the server answered ${reply.status}`, reply.status);
  return data;
}

// A server started with --token: the address holds #token=…, which browsers never send to the
// server. Trade it once for the session cookie (HttpOnly: no script can read it back) and drop it
// from the address bar and history.
async function startSession() {
  const match = /(?:^#|&)token=([^&]*)/.exec(location.hash);
  if (!match) return;
  history.replaceState(null, "", location.pathname + location.search);
  await fetch("/session", { method: "POST", credentials: "same-origin", headers: { Authorization: `Bearer ${decodeURIComponent(match[1])}` } });
}

function showError(error) {
  const status = $("#status");
  status.textContent = error.status === 401 ? "This server needs its token: open the address it printed (…/#token=…)." : `Error: ${error.message}`;
  status.className = "error";
}

// "line 11" -> #line-11, "p. 3" and "pp. 3–4" -> #page-3 (the anchors of /source/NAME).
function anchorOf(location) {
  const match = /^(line|p\.|pp\.) (\d+)/.exec(location || "");
  if (!match) return "";
  return `#${match[1] === "line" ? "line" : "page"}-${match[2]}`;
}

// A link to the source text at the cited place; without a location (a fact), to the marked span itself.
function citation(source, location, start, end) {
  const link = element("a", location ? `${source}, ${location}` : source);
  link.href = `/source/${encodeURIComponent(source)}?start=${start}&end=${end}${location ? anchorOf(location) : "#cited"}`;
  link.className = "citation";
  return link;
}

// The passage text with <mark>s at the given offsets. Offsets count code points (as Python does),
// so the text is split into code points, not UTF-16 units.
function marked(text, marks) {
  const chars = Array.from(text);
  const out = document.createDocumentFragment();
  let at = 0;
  for (const mark of marks) {
    if (mark.start < at || mark.end > chars.length) continue;
    out.append(chars.slice(at, mark.start).join(""));
    out.append(element("mark", chars.slice(mark.start, mark.end).join(""), mark.kind));
    at = mark.end;
  }
  out.append(chars.slice(at).join(""));
  return out;
}

function renderAnswer(data) {
  const box = $("#answer");
  box.replaceChildren();
  const answer = data.answer;
  if (!answer) {
    box.append(element("p", data.message || "The documents do not hold an answer.", "no-answer"));
    return;
  }
  const line = element("p", null, "answer-line");
  line.append(element("strong", answer.text, "answer-text"), " ", element("span", `confidence ${Math.round(answer.score * 100)}%`, "confidence"));
  const quote = element("blockquote", answer.sentence);
  const cited = element("p", "— ", "cited-by");
  cited.append(citation(answer.source, answer.location, answer.start, answer.end), `, chars ${answer.start}–${answer.end}`);
  box.append(line, quote, cited);
}

function renderPassages(data) {
  const list = $("#passages");
  list.replaceChildren();
  data.passages.forEach((passage, index) => {
    const item = element("li", null, "passage");
    const head = element("p", null, "passage-head");
    head.append(citation(passage.source, passage.location, passage.start, passage.end), " ", element("span", `score ${passage.score.toFixed(3)}`, "score"));
    const text = element("p", null, "passage-text");
    text.append(marked(passage.text, data.highlights[index] || []));
    item.append(head, text);
    list.append(item);
  });
}

function factValue(fact) {
  if (fact.value === null) return "";
  const show = (value) => (fact.unit === "fraction" ? `${+(value * 100).toFixed(4)} %` : value.toLocaleString("en"));
  const range = fact.value_max !== null ? `${show(fact.value)} – ${show(fact.value_max)}` : show(fact.value);
  return fact.unit && fact.unit !== "fraction" ? `${range} ${fact.unit}` : range;
}

function renderFacts(facts) {
  const body = $("#facts tbody");
  body.replaceChildren();
  for (const fact of facts) {
    const row = element("tr");
    const where = element("td");
    where.append(citation(fact.source, null, fact.start, fact.end));
    row.append(element("td", fact.text), element("td", fact.label), element("td", factValue(fact), "number"), where);
    body.append(row);
  }
  $("#facts").hidden = facts.length === 0;
  $("#no-facts").hidden = facts.length !== 0;
}

async function ask(event) {
  event.preventDefault();
  const question = $("#question").value.trim();
  if (!question) return;
  const status = $("#status");
  status.className = "";
  status.textContent = "Answering…";
  try {
    const data = await api("/ask/highlighted", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ question, top_k: 5 }),
    });
    renderAnswer(data);
    renderPassages(data);
    renderFacts(data.facts);
    $("#result").hidden = false;
    status.textContent = data.answer ? "Answered." : "No answer in the documents.";
    $("#answer-heading").focus();
  } catch (error) {
    showError(error);
  }
}

function fillSelect(select, values) {
  for (const value of values) select.append(new Option(value, value));
}

async function loadEntities() {
  const params = new URLSearchParams();
  if ($("#entity-label").value) params.set("label", $("#entity-label").value);
  if ($("#entity-source").value) params.set("source", $("#entity-source").value);
  const rows = await api(`/entities?${params}`);
  const body = $("#entity-table tbody");
  body.replaceChildren();
  for (const row of rows.slice(0, MAX_ENTITY_ROWS)) {
    const tr = element("tr");
    tr.append(element("td", row.text), element("td", row.label), element("td", row.count, "number"), element("td", row.sources.join(", ")));
    body.append(tr);
  }
  const shown = Math.min(rows.length, MAX_ENTITY_ROWS);
  $("#entity-count").textContent = rows.length > shown ? `The ${shown} most frequent of ${rows.length} entities.` : `${rows.length} entities.`;
  return rows;
}

async function loadPage() {
  try {
    await startSession();
    const health = await api("/health");
    $("#served").textContent = `Index ${health.generation}: ${health.sources} sources, ${health.chunks} passages · regionqa ${health.version}`;
    $("#status").textContent = "";
    const all = await loadEntities();
    for (const [id, values] of [
      ["#entity-label", all.map((row) => row.label)],
      ["#entity-source", all.flatMap((row) => row.sources)],
    ]) {
      const select = $(id);
      select.length = 1; // keep "all"
      fillSelect(select, [...new Set(values)].sort());
    }
  } catch (error) {
    showError(error);
  }
}

function start() {
  $("#ask").addEventListener("submit", ask);
  for (const id of ["#entity-label", "#entity-source"]) $(id).addEventListener("change", () => loadEntities().catch(showError));
  window.addEventListener("hashchange", loadPage); // a #token=… pasted into an open page
  loadPage();
}

start();
