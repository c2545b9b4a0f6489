// sweepctl dashboard: fills the page from the JSON endpoints and keeps it current by short
// polling. Everything received is written as text (textContent), never as markup.
"use strict";

const BODY = document.body;
const CSRF = document.querySelector('meta[name="csrf-token"]').content;
const PLOT_CONFIG = { responsive: true, displaylogo: false };
const POLL_MS = 1000;
// plotly.min.js (4.8 MB) loads beside this script: tables fill while it is parsed.
const PLOTLY = new Promise((resolve) => {
  if (window.Plotly) resolve();
  else document.getElementById("plotly-js").addEventListener("load", resolve);
});

window.addEventListener("error", (e) => {
  BODY.dataset.errors = (BODY.dataset.errors || "") + e.message + "\n";
});

function el(tag, text, cls) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (cls) node.className = cls;
  return node;
}

function fmt(value, digits = 6) {
  if (value === null || value === undefined) return "-";
  if (typeof value === "number") return Number.isInteger(value) ? String(value) : value.toPrecision(digits).replace(/\.?0+(e|$)/, "$1");
  return String(value);
}

function duration(seconds) {
  if (seconds === null || seconds === undefined) return "-";
  if (seconds < 60) return seconds.toFixed(1) + "s";
  if (seconds < 3600) return Math.floor(seconds / 60) + "m" + String(Math.floor(seconds % 60)).padStart(2, "0") + "s";
  return Math.floor(seconds / 3600) + "h" + String(Math.floor((seconds % 3600) / 60)).padStart(2, "0") + "m";
}

function ago(timestamp, now) {
  return timestamp ? duration(Math.max(0, now - timestamp)) + " ago" : "-";
}

async function getJSON(url) {
  const response = await fetch(url, { credentials: "same-origin", cache: "no-store" });
  if (!response.ok) throw new Error(url + ": " + response.status);
  return response.json();
}

function markLive(ok) {
  const live = document.getElementById("live");
  if (!live) return;
  live.classList.toggle("stale", !ok);
  live.textContent = ok ? "live" : "reconnecting";
}

function poll(fn, every) {
  const tick = async () => {
    try {
      await fn();
      markLive(true);
    } catch (e) {
      markLive(false);
    }
    setTimeout(tick, typeof every === "function" ? every() : every);
  };
  tick();
}

// -- tables --------------------------------------------------------------------------------

// A table sorted by a column the user picked: keeps the choice across redraws.
class Sorted {
  constructor(table, columns, onRow) {
    this.table = table;
    this.columns = columns; // [{title, key: row => value, cell: row => node|text, num}]
    this.onRow = onRow;
    this.by = null;
    this.up = true;
    this.rows = [];
    this.head();
  }
  head() {
    const tr = this.table.tHead.rows[0];
    tr.replaceChildren();
    this.columns.forEach((c, i) => {
      const th = el("th", c.title, c.num ? "num" : "");
      th.addEventListener("click", () => {
        this.up = this.by === i ? !this.up : true;
        this.by = i;
        this.draw(this.rows);
      });
      tr.appendChild(th);
    });
  }
  draw(rows) {
    this.rows = rows;
    let shown = rows.slice();
    if (this.by !== null) {
      const key = this.columns[this.by].key;
      shown.sort((a, b) => {
        const x = key(a), y = key(b);
        if (x === y) return 0;
        if (x === null || x === undefined) return 1;
        if (y === null || y === undefined) return -1;
        const order = typeof x === "number" && typeof y === "number" ? x - y : String(x).localeCompare(String(y));
        return this.up ? order : -order;
      });
    }
    const ths = this.table.tHead.rows[0].cells;
    Array.from(ths).forEach((th, i) => {
      th.classList.toggle("asc", i === this.by && this.up);
      th.classList.toggle("desc", i === this.by && !this.up);
    });
    const body = el("tbody");
    for (const row of shown) {
      const tr = el("tr");
      this.columns.forEach((c) => {
        const td = el("td", undefined, c.num ? "num" : "");
        const value = c.cell ? c.cell(row) : c.key(row);
        if (value instanceof Node) td.appendChild(value);
        else td.textContent = value === null || value === undefined ? "-" : String(value);
        tr.appendChild(td);
      });
      if (this.onRow) this.onRow(row, tr);
      body.appendChild(tr);
    }
    this.table.replaceChild(body, this.table.tBodies[0]);
  }
}

function badge(state, prefix) {
  return el("span", state, "badge " + prefix + state);
}

// -- the sweeps page -----------------------------------------------------------------------

function sweepsPage() {
  const link = (s) => {
    const a = el("a", s.label);
    a.href = "/sweeps/" + encodeURIComponent(s.id);
    return a;
  };
  const progress = (s) => {
    const p = s.progress;
    const span = el("span");
    if (p.total) {
      const bar = el("span", undefined, "progress");
      const fill = el("span");
      fill.style.width = Math.min(100, (100 * p.runs) / p.total) + "%";
      bar.appendChild(fill);
      span.appendChild(bar);
      span.appendChild(document.createTextNode(p.runs + " / " + p.total + " (" + p.bound + ")"));
    } else span.textContent = p.runs + " runs";
    return span;
  };
  const states = (s) => {
    const span = el("span");
    for (const [state, n] of Object.entries(s.runs_by_state)) {
      const one = el("span", undefined, "state-count");
      one.appendChild(badge(state, "s-"));
      one.appendChild(document.createTextNode(" " + n));
      span.appendChild(one);
    }
    return span;
  };
  let now = Date.now() / 1000;
  const table = new Sorted(document.getElementById("sweeps"), [
    { title: "sweep", key: (s) => s.label, cell: link },
    { title: "state", key: (s) => s.state, cell: (s) => badge(s.state, "sw-") },
    { title: "method", key: (s) => s.method },
    { title: "progress", key: (s) => s.progress.runs, cell: progress },
    { title: "runs by state", key: (s) => s.progress.runs, cell: states },
    { title: "best", key: (s) => (s.best ? s.best.value : null), cell: (s) => (s.best ? fmt(s.best.value) + (s.metric ? " " + s.metric.name : "") : "-"), num: true },
    { title: "agents", key: (s) => s.agents, num: true },
    { title: "created", key: (s) => s.created_at, cell: (s) => ago(s.created_at, now) },
  ]);
  poll(async () => {
    const data = await getJSON("/api/sweeps");
    now = data.now;
    table.draw(data.sweeps);
    document.getElementById("empty").hidden = data.sweeps.length > 0;
    BODY.dataset.sweeps = String(data.sweeps.length);
  }, 2000);
}

// -- one sweep -----------------------------------------------------------------------------

function sweepPage() {
  const id = BODY.dataset.sweep;
  const base = "/api/sweeps/" + encodeURIComponent(id);
  let version = null;
  let selected = null;
  let bestConfig = null;
  let finished = -1;
  const filter = document.getElementById("state-filter");
  let table = null;
  let columns = null;
  let latest = null;

  // Each figure is drawn when it first scrolls into view, and again only when its data
  // changed: a large sweep's parallel coordinates take seconds without a GPU.
  const shown = new Set();
  const pending = new Map();
  const drawnAs = new Map();
  const watcher = new IntersectionObserver((entries) => {
    for (const entry of entries) {
      if (!entry.isIntersecting) continue;
      const name = entry.target.id.replace("plot-", "");
      shown.add(name);
      watcher.unobserve(entry.target);
      const figure = pending.get(name);
      if (figure) plot(name, figure);
    }
  }, { rootMargin: "200px" });
  let watching = false; // from the first draw, when the page has its length

  async function plot(name, figure) {
    pending.delete(name);
    await PLOTLY;
    const div = document.getElementById("plot-" + name);
    figure.layout.uirevision = name; // keep the user's zoom across updates
    await Plotly.react(div, figure.data, figure.layout, PLOT_CONFIG);
    div.dataset.traces = String(figure.data.length);
    div.dataset.points = String(figure.data.reduce((n, t) => n + (t.x ? t.x.filter((v) => v !== null).length : 0), 0));
  }

  function drawPlot(name, figures) {
    const figure = figures.find((f) => f.id === "plot-" + name);
    const div = document.getElementById("plot-" + name);
    const none = document.getElementById("none-" + name);
    if (none) none.hidden = Boolean(figure);
    div.hidden = !figure;
    if (!figure) return;
    div.style.height = figure.height + "px";
    const signature = JSON.stringify(figure.data);
    if (drawnAs.get(name) === signature) return;
    drawnAs.set(name, signature);
    if (shown.has(name)) plot(name, figure);
    else pending.set(name, figure);
  }

  function runsTable(data) {
    const key = data.columns.join("\u0000");
    if (table && columns === key) return table;
    columns = key;
    const cols = [
      { title: "#", key: (r) => r.number, num: true },
      { title: "run", key: (r) => r.id },
      { title: "state", key: (r) => r.state, cell: (r) => badge(r.state, "s-") },
      { title: data.sweep.metric ? data.sweep.metric.name : "metric", key: (r) => r.metric, cell: (r) => fmt(r.metric), num: true },
      { title: "steps", key: (r) => r.steps, num: true },
      { title: "duration", key: (r) => r.duration, cell: (r) => duration(r.duration), num: true },
    ];
    for (const name of data.columns) {
      cols.push({
        title: name,
        key: (r) => {
          const v = r.config[name];
          const n = Number(v);
          return v !== null && v !== "" && !Number.isNaN(n) ? n : v;
        },
        cell: (r) => r.config[name],
      });
    }
    table = new Sorted(document.getElementById("runs"), cols, (run, tr) => {
      tr.dataset.run = run.id;
      if (run.best) tr.classList.add("best");
      if (run.id === selected) tr.classList.add("selected");
      tr.addEventListener("click", () => {
        selected = run.id;
        for (const row of tr.parentNode.rows) row.classList.toggle("selected", row === tr);
        loadLog();
      });
    });
    return table;
  }

  function drawRuns() {
    if (!latest) return;
    const wanted = filter.value;
    const rows = latest.runs.filter((r) => !wanted || r.state === wanted);
    runsTable(latest).draw(rows);
    document.getElementById("shown").textContent = rows.length + " of " + latest.runs.length + " runs";
  }

  function draw(data) {
    latest = data;
    const s = data.sweep;
    const state = document.getElementById("state");
    state.textContent = s.state;
    state.className = "badge sw-" + s.state;
    document.getElementById("reason").textContent = s.state_reason ? "(" + s.state_reason + ")" : "";
    document.getElementById("metric").textContent = s.metric ? s.metric.name + " (" + s.metric.goal + ")" : "no metric";
    const p = data.progress;
    document.getElementById("c-runs").textContent = p.total ? p.runs + " / " + p.total : String(p.runs);
    document.getElementById("c-bar").style.width = p.total ? Math.min(100, (100 * p.runs) / p.total) + "%" : "0";
    document.getElementById("c-running").textContent = String(data.runs_by_state.running || 0);
    document.getElementById("c-agents").textContent = data.agents === null ? "-" : String(data.agents);
    document.getElementById("c-early").textContent = String(data.early.runs);
    document.getElementById("c-saved").textContent = data.early.runs
      ? "≈ " + data.early.saved + " values not logged (" + Math.round(100 * data.early.share) + "% of the compute)"
      : "";
    document.getElementById("c-best").textContent = data.best ? fmt(data.best.metric) : "-";
    // The state filter lists every state, with how many runs are in each.
    const current = filter.value;
    filter.replaceChildren(el("option", "all (" + data.runs.length + ")"));
    filter.options[0].value = "";
    for (const st of data.states) {
      const n = data.runs_by_state[st] || 0;
      if (!n && st !== current) continue;
      const option = el("option", st + " (" + n + ")");
      option.value = st;
      filter.appendChild(option);
    }
    filter.value = current;
    drawRuns();
    // The best run and its config.
    document.getElementById("none-best").hidden = Boolean(data.best);
    document.getElementById("best").hidden = !data.best;
    bestConfig = data.best;
    if (data.best) {
      document.getElementById("best-id").textContent = "run " + data.best.id + " (#" + data.best.number + ")";
      document.getElementById("best-value").textContent = (s.metric ? s.metric.name : "metric") + " = " + fmt(data.best.metric);
      document.getElementById("best-config").textContent = data.best.yaml;
    }
    // Controls that apply now.
    for (const button of document.querySelectorAll("button.control")) {
      button.hidden = !data.actions.includes(button.dataset.action);
    }
    for (const name of ["curves", "best-so-far", "parallel"]) drawPlot(name, data.figures);
    if (!watching) {
      watching = true;
      for (const div of document.querySelectorAll("div.plot")) watcher.observe(div);
    }
    const done = (data.runs_by_state.finished || 0) + (data.runs_by_state.stopped || 0);
    if (done !== finished) {
      finished = done;
      loadImportance();
    }
    BODY.dataset.runs = String(data.runs.length);
    BODY.dataset.state = s.state;
  }

  async function loadImportance() {
    try {
      const data = await getJSON(base + "/importance");
      drawPlot("importance", data.figures);
      if (!data.figures.length) document.getElementById("none-importance").textContent = data.reason || "Not enough runs yet.";
    } catch (e) {
      document.getElementById("none-importance").textContent = "Could not compute it.";
    }
  }

  async function loadLog() {
    if (!selected) return;
    const data = await getJSON(base + "/runs/" + encodeURIComponent(selected) + "/log");
    document.getElementById("log-run").textContent = "run " + selected;
    document.getElementById("none-log").hidden = true;
    const pre = document.getElementById("log");
    pre.hidden = false;
    const atEnd = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
    pre.textContent = data.lines.length ? data.lines.join("\n") : data.note || "(no output yet)";
    if (atEnd) pre.scrollTop = pre.scrollHeight;
  }

  filter.addEventListener("change", drawRuns);

  function copy(text) {
    const said = document.getElementById("copied");
    const done = () => { said.textContent = "copied"; setTimeout(() => { said.textContent = ""; }, 1500); };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, () => fallback(text, done));
    } else fallback(text, done);
  }
  function fallback(text, done) {
    const area = el("textarea");
    area.value = text;
    document.body.appendChild(area);
    area.select();
    document.execCommand("copy");
    area.remove();
    done();
  }
  document.getElementById("copy-json").addEventListener("click", () => bestConfig && copy(bestConfig.json));
  document.getElementById("copy-yaml").addEventListener("click", () => bestConfig && copy(bestConfig.yaml));

  for (const button of document.querySelectorAll("button.control")) {
    button.addEventListener("click", async () => {
      const action = button.dataset.action;
      if (action === "cancel" && !window.confirm("Cancel the sweep and kill its running runs?")) return;
      const said = document.getElementById("said");
      said.textContent = action + "…";
      const response = await fetch(base + "/control/" + action, {
        method: "POST",
        credentials: "same-origin",
        headers: { "X-Sweepctl-CSRF": CSRF },
      });
      const data = await response.json();
      said.textContent = data.message || data.error || "";
      version = null;
      await update();
    });
  }

  async function update() {
    const data = await getJSON(base + (version ? "?since=" + encodeURIComponent(version) : ""));
    if (data.changed) {
      draw(data);
      BODY.dataset.updates = String(Number(BODY.dataset.updates || 0) + 1);
    }
    version = data.version;
    BODY.dataset.version = version;
    if (selected && latest && latest.runs.some((r) => r.id === selected && r.state === "running")) await loadLog();
  }
  poll(update, () => (latest && latest.poll_ms) || POLL_MS);
}

if (BODY.dataset.page === "sweeps") sweepsPage();
else if (BODY.dataset.page === "sweep") sweepPage();
