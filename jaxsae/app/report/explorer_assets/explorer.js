/* jaxsae neuron explorer: plain JavaScript over the JSON embedded in #explorer-data (see jaxsae/app/report/explorer.py).
   Views are hash routes, rendered on demand: #grid, #neuron/N, #search/QUERY, #steer (and #steer/E/S). */
(function () {
  "use strict";
  const t0 = performance.now();
  const D = JSON.parse(document.getElementById("explorer-data").textContent);
  const L = D.latents, I = D.items, C = D.concepts, U = D.users, META = D.meta;
  const H = META.latents, KS = META.ks;
  const view = document.getElementById("view");
  const PAGE = 240;

  // ---- small helpers ---------------------------------------------------------------------------
  const esc = (s) => String(s == null ? "" : s).replace(/[&<>"']/g, (c) => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c]));
  const isNum = (v) => typeof v === "number" && isFinite(v);
  function f(v, digits) {
    if (!isNum(v)) return "–";
    const d = digits == null ? 2 : digits;
    return Math.abs(v) >= 1000 ? Math.round(v).toLocaleString("en") : v.toFixed(d);
  }
  const pct = (v) => (isNum(v) ? (100 * v < 10 ? (100 * v).toFixed(1) : Math.round(100 * v)) + "%" : "–");
  const signed = (v) => (isNum(v) ? (v > 0 ? "+" : "") + v.toFixed(2) : "–");
  function pairs(flat) { const out = []; for (let j = 0; flat && j + 1 < flat.length; j += 2) out.push([flat[j], flat[j + 1]]); return out; }
  const famOf = (c) => (c >= 0 ? C.families[c] : null);
  const title = (i) => (I.titles[i] != null ? I.titles[i] : "item " + i);
  function chip(c) { return `<span class="chip fam-${esc(C.families[c])}" title="${esc(C.families[c])}">${esc(C.names[c])}</span>`; }
  const chips = (cs) => (cs || []).map(chip).join("");
  const chipsFor = (cs, best) => (cs || []).map((c) => (c === best ? chip(c) : chip(c).replace('class="chip ', 'class="chip dim '))).join("");
  function latChip(n, a, extra) {
    return `<a class="chip lat" href="#neuron/${n}" data-latent="${n}"><b>#${n}</b> ${esc(L.label[n] || "")} ${isNum(a) ? f(a) : ""}${extra ? ` <span class="muted">(${esc(extra)})</span>` : ""}</a>`;
  }
  const userRow = new Map();
  if (U) U.idx.forEach((u, r) => userRow.set(u, r));
  function userAttrs(r) {
    if (!U) return "";
    return U.attr_names.map((name, a) => `<span class="muted small">${esc(name)}:</span> ${esc(U.attr_vocab[a][U.attrs[a][r]])}`).join(" · ");
  }
  const labelOf = (n) => L.label[n];
  const dead = (n) => L.fire[n] === 0;

  // ---- headline figures (every view) -------------------------------------------------------------
  function headline() {
    const h = D.headline, out = [];
    if (h.rec) {
      const row = (k) => h.rec.rows.find((r) => r[0] === k);
      for (const k of ["hit@10", "ndcg@10"]) {
        const r = row(k); if (!r) continue;
        const ratio = isNum(r[1]) && isNum(r[2]) && r[2] > 0 ? r[1] / r[2] : null;
        out.push(`<div class="hl" data-headline="${k}"><div class="k">${esc(h.rec.model.toUpperCase())} ${k}</div><div class="v">${f(r[1], 3)}</div>` +
          `<div class="s">most popular ${f(r[2], 3)}${ratio ? ` · <span class="${ratio >= 1.1 ? "good" : "bad"}">${ratio.toFixed(2)}x</span>` : ""}</div></div>`);
      }
    }
    if (h.fidelity) {
      const g = (k) => (h.fidelity.rows.find((r) => r[0] === k) || [k, null])[1];
      out.push(`<div class="hl" data-headline="fidelity"><div class="k">fidelity (held-out users)</div><div class="v">RBO@30 ${f(g("rbo@30"))}</div>` +
        `<div class="s">Kendall τ ${f(g("kendall_tau@30"))} · ${esc(h.fidelity.sae)} h=${esc(h.fidelity.latents)}${h.fidelity.k ? " k=" + esc(h.fidelity.k) : ""}</div></div>`);
    }
    if (h.purity && h.purity.n_concepts) {
      out.push(`<div class="hl" data-headline="purity"><div class="k">concepts at purity@10 ≥ 0.9</div><div class="v">${h.purity.sae_pure} of ${h.purity.n_concepts}</div>` +
        `<div class="s">random-direction null: ${h.purity.null_pure}${isNum(h.ms) ? " · MS " + f(h.ms, 3) : ""}</div></div>`);
    }
    if (h.bound) {
      const b = h.bound, rec = isNum(b.concept_recall) ? (100 * b.concept_recall).toFixed(0) + "%" : "n/a";
      out.push(`<div class="hl" data-headline="recall"><div class="k">concept recall (clear among probe-clear)</div><div class="v">${b.probe_clear === null ? "no probe" : esc(b.sae_clear_among_probe_clear) + " of " + esc(b.probe_clear) + " · " + rec}</div>` +
        `<div class="s">SAE-clear ${esc(b.sae_clear)} (${esc(b.null_seeds)}-seed null) · density ${f(b.item_density, 3)} items${isNum(b.user_density) ? " / " + f(b.user_density, 3) + " users" : ""} · dead ${esc(b.n_dead)} · dense ${esc(b.n_dense)}</div></div>`);
    }
    if (h.ablation && h.ablation.rows.length) {
      const k = h.ablation.keys, iw = k.indexOf("w_pred"), ir = k.indexOf("rbo@30"), ik = k.indexOf("kendall_tau@30");
      const cells = h.ablation.rows.map((r) => `${f(r[iw], 0)}: ${f(r[ir])}/${f(r[ik])}`).join(" · ");
      out.push(`<div class="hl" data-headline="ablation"><div class="k">ablation w_pred: RBO/Kendall</div>${sparkline(h.ablation.rows.map((r) => r[ir]))}<div class="s">${cells}</div></div>`);
    }
    out.push(`<div class="hl"><div class="k">this run</div><div class="v">${H.toLocaleString("en")} latents</div><div class="s">${(I.titles.length || 0).toLocaleString("en")} items · <a href="index.html">full report</a></div></div>`);
    document.getElementById("headline").innerHTML = out.join("");
  }
  function sparkline(vals) {
    const v = vals.filter(isNum); if (v.length < 2) return "";
    const lo = Math.min(...v), hi = Math.max(...v), w = 120, hh = 22;
    const pts = vals.map((x, j) => `${(j * w / (vals.length - 1)).toFixed(1)},${isNum(x) ? (hh - 2 - (hh - 4) * (x - lo) / ((hi - lo) || 1)).toFixed(1) : hh}`);
    return `<svg width="${w}" height="${hh}" viewBox="0 0 ${w} ${hh}"><polyline fill="none" stroke="#2563eb" stroke-width="2" points="${pts.join(" ")}"/></svg>`;
  }

  // ---- grid of latents ---------------------------------------------------------------------------
  const grid = {sort: "margin", fam: "all", text: "", page: 0};
  const SORTS = {
    id: ["latent id", (n) => n],
    p10: ["purity@10", (n) => -(L.p10[n] || 0)],
    margin: ["purity@10 − null", (n) => -((L.p10[n] || 0) - (L.null10[n] || 0))],
    fire: ["fires on most items", (n) => -(L.fire[n] || 0)],
    rare: ["fires on fewest items", (n) => (isNum(L.fire[n]) && L.fire[n] > 0 ? L.fire[n] : 2)],
    spear: ["|popularity ρ|", (n) => -Math.abs(L.spear[n] || 0)],
  };
  function gridList() {
    const text = grid.text.toLowerCase();
    let ids = [];
    for (let n = 0; n < H; n++) {
      const fam = famOf(L.best[n]);
      if (grid.fam === "labeled" && !labelOf(n)) continue;
      if (grid.fam === "dead" && !dead(n)) continue;
      if (!["all", "labeled", "dead"].includes(grid.fam) && (fam !== grid.fam || !labelOf(n))) continue;
      if (text) {
        const hay = [String(n), labelOf(n) || "", L.best[n] >= 0 ? C.names[L.best[n]] : ""].join(" ").toLowerCase();
        if (!hay.includes(text)) continue;
      }
      ids.push(n);
    }
    const key = SORTS[grid.sort][1];
    ids.sort((a, b) => key(a) - key(b) || a - b);
    return ids;
  }
  function tile(n) {
    const lab = labelOf(n), best = L.best[n], fam = famOf(best);
    const chance = isNum(L.p10[n]) && isNum(L.null10[n]) && L.p10[n] - L.null10[n] < 0.2;
    const cls = ["tile", fam && lab ? "fam-" + fam : "unlabeled", dead(n) ? "dead" : "", chance ? "chance" : ""].join(" ");
    const name = lab ? esc(lab) : dead(n) ? "dead" : best >= 0 ? "≈ " + esc(C.names[best]) : "–";
    const p = L.p10[n], nl = L.null10[n];
    const bar = `<div class="pbar" title="purity@10 ${f(p)} (null ${f(nl)})"><span class="fill" style="width:${isNum(p) ? 100 * p : 0}%"></span>` +
      (isNum(nl) ? `<span class="null" style="left:${100 * nl}%"></span>` : "") + "</div>";
    const grp = L.group[n] >= 0 ? `<span>group ${L.group[n]}</span>` : "";
    return `<a class="${cls}" href="#neuron/${n}" data-neuron="${n}"><div class="tid"><span>#${n}</span>${grp}</div>` +
      `<div class="tlabel">${name}</div>${bar}<div class="tstats"><span title="purity@10 and its null">p@10 <b>${f(p)}</b> / ${f(nl)}</span>` +
      `<span title="fraction of items it fires on">${pct(L.fire[n])}</span><span title="Spearman with item popularity">ρ ${signed(L.spear[n])}</span></div></a>`;
  }
  function renderGrid() {
    const ids = gridList(), pages = Math.max(1, Math.ceil(ids.length / PAGE));
    grid.page = Math.min(grid.page, pages - 1);
    const shown = ids.slice(grid.page * PAGE, (grid.page + 1) * PAGE);
    const fams = [...new Set(C.families)];
    const opt = (v, label, cur) => `<option value="${esc(v)}"${v === cur ? " selected" : ""}>${esc(label)}</option>`;
    const nLab = L.label.filter((x) => x).length, nDead = L.fire.filter((x) => x === 0).length;
    const notes = META.notes.length ? `<div class="notes">${META.notes.map(esc).join("<br>")}</div>` : "";
    view.innerHTML = `<h1>Latents</h1>${notes}
      <p class="muted">${H} latents: ${nLab} labeled (best concept at purity@10 ≥ ${META.label_threshold}), ${nDead} dead.
        The bar is purity@10 of the best concept, the black tick the random-direction null for that concept;
        a pale bar is less than 0.2 above its null (a frequent concept that random directions reach too).</p>
      <div class="controls">
        <label>sort <select id="g-sort">${Object.keys(SORTS).map((k) => opt(k, SORTS[k][0], grid.sort)).join("")}</select></label>
        <label>show <select id="g-fam">${opt("all", "all latents", grid.fam)}${opt("labeled", "labeled", grid.fam)}${fams.map((x) => opt(x, "labeled: " + x, grid.fam)).join("")}${opt("dead", "dead", grid.fam)}</select></label>
        <input id="g-text" type="search" placeholder="filter by label or id" value="${esc(grid.text)}">
        <span class="muted small" id="g-count">${ids.length} shown</span>
      </div>
      <div class="grid" id="tiles">${shown.map(tile).join("")}</div>${pager(pages)}`;
    const on = (id, ev, fn) => document.getElementById(id).addEventListener(ev, fn);
    const update = () => { history.replaceState(null, "", gridHash()); renderGrid(); };
    on("g-sort", "change", (e) => { grid.sort = e.target.value; grid.page = 0; update(); });
    on("g-fam", "change", (e) => { grid.fam = e.target.value; grid.page = 0; update(); });
    on("g-text", "input", (e) => { grid.text = e.target.value; grid.page = 0; update(); const el = document.getElementById("g-text"); el.focus(); el.setSelectionRange(el.value.length, el.value.length); });
    view.querySelectorAll("[data-page]").forEach((b) => b.addEventListener("click", () => { grid.page = +b.dataset.page; update(); window.scrollTo(0, 0); }));
  }
  function gridHash() {  // the grid's state as a bookmarkable route: #grid?sort=..&fam=..&text=..&page=..
    const q = new URLSearchParams();
    if (grid.sort !== "margin") q.set("sort", grid.sort);
    if (grid.fam !== "all") q.set("fam", grid.fam);
    if (grid.text) q.set("text", grid.text);
    if (grid.page) q.set("page", String(grid.page + 1));
    return "#grid" + (q.toString() ? "?" + q.toString() : "");
  }
  function gridState(query) {
    const q = new URLSearchParams(query || "");
    grid.sort = SORTS[q.get("sort")] ? q.get("sort") : "margin";
    grid.fam = q.get("fam") || "all";
    grid.text = q.get("text") || "";
    grid.page = Math.max(0, (parseInt(q.get("page") || "1", 10) || 1) - 1);
  }
  function pager(pages) {
    if (pages <= 1) return "";
    return `<div class="pager"><button data-page="${grid.page - 1}"${grid.page ? "" : " disabled"}>‹ previous</button>` +
      `<span>page ${grid.page + 1} of ${pages}</span><button data-page="${grid.page + 1}"${grid.page + 1 < pages ? "" : " disabled"}>next ›</button></div>`;
  }

  // ---- one latent --------------------------------------------------------------------------------
  function histogram(hst) {
    if (!hst || !hst.counts.length) return "<p class='muted'>No activations stored (the SAE was not loadable).</p>";
    const w = 440, hh = 150, pad = 28, n = hst.counts.length, top = Math.max(1, ...hst.counts);
    const bw = (w - pad - 6) / n;
    const bars = hst.counts.map((c, j) => {
      const bh = (hh - 30) * c / top;
      return `<rect x="${(pad + j * bw).toFixed(1)}" y="${(hh - 18 - bh).toFixed(1)}" width="${Math.max(1, bw - 1).toFixed(1)}" height="${bh.toFixed(1)}" fill="#2563eb" opacity=".8"><title>${c} items</title></rect>`;
    }).join("");
    return `<svg class="hist" width="100%" viewBox="0 0 ${w} ${hh}" role="img" aria-label="activation histogram">` +
      `<line x1="${pad}" y1="${hh - 18}" x2="${w - 6}" y2="${hh - 18}" stroke="#9ca3af"/>${bars}` +
      `<text x="${pad}" y="${hh - 5}">${f(hst.lo)}</text><text x="${w - 6}" y="${hh - 5}" text-anchor="end">${f(hst.hi)}</text>` +
      `<text x="${(w + pad) / 2}" y="${hh - 5}" text-anchor="middle">activation</text><text x="2" y="12">${top}</text></svg>` +
      `<div class="muted small">${(hst.counts.reduce((a, b) => a + b, 0)).toLocaleString("en")} items fire, ${hst.zeros.toLocaleString("en")} do not.</div>`;
  }
  function renderNeuron(n) {
    if (!(n >= 0 && n < H)) { view.innerHTML = `<h1>No latent ${esc(n)}</h1><p><a href="#grid">back to the grid</a></p>`; return; }
    const lab = labelOf(n), best = L.best[n];
    const top = pairs(L.top[n]);
    const amax = Math.max(1e-9, ...top.map((p) => p[1]));
    const itemRows = top.map(([i, a], r) => `<tr data-item="${i}"><td class="num">${r + 1}</td><td>${esc(title(i))}</td>` +
      `<td class="num"><span class="abar" style="width:${(50 * a / amax).toFixed(0)}px"></span>${f(a)}</td><td>${best >= 0 ? chipsFor(I.concepts[i], best) : chips(I.concepts[i])}</td>` +
      `<td class="num">${I.pop[i] != null ? I.pop[i].toLocaleString("en") : "–"}</td></tr>`).join("");
    const purest = (L.purest && L.purest[n]) || [];
    const purRows = purest.map((row) => {
      const c = row[0];
      const cells = KS.map((k, j) => {
        const p = row[1 + j], nl = (C.null[c] || [])[j];
        return `<td class="num"><span class="${isNum(p) && isNum(nl) && p - nl >= 0.2 ? "win" : ""}">${f(p)}</span><span class="nullv">null ${f(nl)}</span></td>`;
      }).join("");
      return `<tr data-concept="${esc(C.names[c])}"><td>${chip(c)}</td>${cells}<td class="num">${f(C.base[c])}</td></tr>`;
    }).join("");
    const purTable = purest.length ? `<table><thead><tr><th>concept</th>${KS.map((k) => `<th class="num">p@${k}</th>`).join("")}<th class="num">base</th></tr></thead><tbody>${purRows}</tbody></table>`
      : best >= 0 ? `<p>Best concept ${chip(best)} at purity@10 ${f(L.p10[n])} (null ${f(L.null10[n])}).</p>` : "<p class='muted'>No concept among its top items.</p>";
    const users = pairs(L.top_users ? L.top_users[n] : null);
    const userRows = users.map(([r, a]) => `<tr><td><a href="#search/${encodeURIComponent(U.ids[r])}">${esc(U.ids[r])}</a></td><td class="num">${f(a)}</td><td>${userAttrs(r)}</td></tr>`).join("");
    const userTable = users.length ? `<table><thead><tr><th>user</th><th class="num">activation</th><th>attributes</th></tr></thead><tbody>${userRows}</tbody></table>` : "<p class='muted'>No user activations stored.</p>";
    let group = "";
    if (L.group[n] >= 0 && D.groups) {
      const g = D.groups.find((x) => x.group === L.group[n]) || {};
      const extra = Object.keys(g).filter((k) => !["group", "start", "end"].includes(k)).map((k) => `${esc(k.replace(/_/g, " "))} ${f(g[k])}`).join(" · ");
      group = `<div><span class="muted">Matryoshka group</span> <b>${L.group[n]}</b> (latents ${g.start}–${g.end - 1})${extra ? " · " + extra : ""}</div>`;
    }
    const prev = n > 0 ? `<a href="#neuron/${n - 1}">‹ #${n - 1}</a>` : "", next = n + 1 < H ? `<a href="#neuron/${n + 1}">#${n + 1} ›</a>` : "";
    view.innerHTML = `<div class="navrow"><a href="#grid">all latents</a>${prev}${next}</div>
      <h1 data-latent-page="${n}">Latent #${n}${lab ? ": " + esc(lab) : ""} ${lab && best >= 0 ? chip(best) : ""}</h1>
      <div class="facts">
        <div><span class="muted">purity@10</span> <b>${f(L.p10[n])}</b> <span class="muted">null ${f(L.null10[n])}</span>${best >= 0 ? " for " + esc(C.names[best]) : ""}</div>
        <div><span class="muted">fires on</span> <b>${pct(L.fire[n])}</b> <span class="muted">of items</span></div>
        <div><span class="muted">popularity Spearman</span> <b>${signed(L.spear[n])}</b></div>
        ${isNum(L.ms[n]) ? `<div><span class="muted">MS</span> <b>${f(L.ms[n])}</b></div>` : ""}${group}
      </div>
      <div class="cols">
        <div class="panel"><h2>Top items</h2><table id="top-items"><thead><tr><th class="num">#</th><th>item</th><th class="num">activation</th><th>concepts</th><th class="num">popularity</th></tr></thead><tbody>${itemRows || "<tr><td colspan=5 class='muted'>never fires</td></tr>"}</tbody></table></div>
        <div>
          <div class="panel"><h2>Activation over items</h2>${histogram(L.hist ? L.hist[n] : null)}</div>
          <div class="panel"><h2>Purest concepts</h2><p class="muted small">Purity at K = ${KS.join(", ")} (fraction of the top-K items carrying the concept); below it the random-direction null. Green: ≥ 0.2 above the null.</p>${purTable}</div>
          <div class="panel"><h2>Top users</h2>${userTable}</div>
        </div>
      </div>`;
  }

  // ---- search ------------------------------------------------------------------------------------
  function conceptLatents(c) {
    // mean activation of each latent over the items that carry concept c, and the fraction of them it fires on
    if (!I.acts) return [];
    const sum = new Map(), cnt = new Map();
    let n = 0;
    for (let i = 0; i < I.concepts.length; i++) {
      if (!I.concepts[i].includes(c)) continue;
      n++;
      for (const [l, a] of pairs(I.acts[i])) { sum.set(l, (sum.get(l) || 0) + a); cnt.set(l, (cnt.get(l) || 0) + 1); }
    }
    return [...sum.keys()].map((l) => [l, sum.get(l) / Math.max(1, n), cnt.get(l) / Math.max(1, n)]).sort((a, b) => b[1] - a[1]).slice(0, 8);
  }
  function renderSearch(q) {
    document.getElementById("q").value = q;
    const s = q.trim().toLowerCase();
    let html = `<h1>Search</h1><p class="muted">Concepts, item titles and user ids; for each, the latents that fire with their activations.</p>`;
    if (!s) { view.innerHTML = html + "<p>Type in the search box above, e.g. a genre.</p>"; return; }
    const cs = C.names.map((name, c) => c).filter((c) => C.names[c].toLowerCase().includes(s))
      .sort((a, b) => (C.names[b].toLowerCase() === s) - (C.names[a].toLowerCase() === s));
    html += `<h2>Concepts (${cs.length})</h2>`;
    html += cs.slice(0, 12).map((c) => {
      const b = C.neuron[c], p = C.purity[c] || [], nl = C.null[c] || [], j10 = KS.indexOf(10);
      const bestHtml = b >= 0 ? `best latent <a href="#neuron/${b}" data-best-neuron="${b}">#${b}${L.label[b] ? " " + esc(L.label[b]) : ""}</a> at purity@10 ${f(p[j10])} (null ${f(nl[j10])}, base rate ${f(C.base[c])})` : "no analysis yet";
      const fire = conceptLatents(c).map(([l, a, fr]) => latChip(l, a, pct(fr))).join("");
      return `<div class="result" data-concept="${esc(C.names[c])}">${chip(c)} ${bestHtml}${fire ? `<div class="small"><span class="muted">latents by mean activation over its items (share of its items they fire on):</span> ${fire}</div>` : ""}</div>`;
    }).join("") || "<p class='muted'>none</p>";
    const items = [];
    for (let i = 0; i < I.titles.length && items.length < 25; i++) if (String(I.titles[i]).toLowerCase().includes(s) || String(I.ids[i]).toLowerCase() === s) items.push(i);
    html += `<h2>Items${items.length === 25 ? " (first 25)" : ` (${items.length})`}</h2>`;
    html += items.map((i) => `<div class="result" data-item="${i}"><b>${esc(title(i))}</b> <span class="muted small">id ${esc(I.ids[i])} · popularity ${I.pop[i] != null ? I.pop[i] : "–"}</span> ${chips(I.concepts[i])}` +
      `<div class="small">${I.acts ? pairs(I.acts[i]).map(([l, a]) => latChip(l, a)).join("") || "<span class='muted'>no latent fires</span>" : "<span class='muted'>activations not stored</span>"}</div></div>`).join("") || "<p class='muted'>none</p>";
    if (U) {
      const us = [];
      for (let r = 0; r < U.ids.length && us.length < 10; r++) if (String(U.ids[r]).toLowerCase() === s) us.unshift(r); else if (String(U.ids[r]).toLowerCase().startsWith(s) && us.length < 9) us.push(r);
      html += `<h2>Users (${us.length}${U.ids.length < U.n_users ? ` of ${U.ids.length.toLocaleString("en")} searchable` : ""})</h2>`;
      html += us.map((r) => `<div class="result" data-user="${esc(U.ids[r])}"><b>user ${esc(U.ids[r])}</b> ${userAttrs(r)}<div class="small">${pairs(U.acts[r]).map(([l, a]) => latChip(l, a)).join("") || "<span class='muted'>no latent fires</span>"}</div></div>`).join("") || "<p class='muted'>none</p>";
    }
    view.innerHTML = html;
  }

  // ---- steering ----------------------------------------------------------------------------------
  function describe(st) {
    const via = st.neurons.length ? (st.n_neurons === 1 ? `latent ${latChip(st.neurons[0])}` : `${st.n_neurons} latents ${st.neurons.slice(0, 6).map((n) => latChip(n)).join("")}${st.n_neurons > 6 ? "…" : ""}`) : "";
    const verb = {filter: "Filter", nudge: "Nudge", promote: "Promote"}[st.kind];
    return `${verb} <b>${esc(st.target)}</b>${st.method ? ` <span class="muted">(${esc(st.method)})</span>` : ""} via ${via}`;
  }
  function renderSteer(e, s, explicit) {  // #steer: every intervention's lists; #steer/E/S: only E's, sample S
    const all = D.steering || [];
    const toc = all.map((st, j) => `<a class="tab${explicit && j === e ? " on" : ""}" href="#steer/${j}/0">${esc({filter: "Filter", nudge: "Nudge", promote: "Promote"}[st.kind])} ${esc(st.target)}</a>`).join(" ");
    let html = `<h1>Steering</h1><p class="muted">Top lists of sample audience users before and after each intervention the run computed (<code>jaxsae intervene</code>).</p>
      ${all.length > 1 ? `<div class="tabs">${explicit ? `<a class="tab" href="#steer">all</a>` : ""}${toc}</div>` : ""}
      <div class="legend"><span class="removed">removed</span><span class="added">added</span><span>● carries the target concept</span></div>`;
    const bench = (D.benchmark || []).map((t) => `<section class="panel bench"><h2>${esc(t.title)}</h2><table><tr>${t.header.map((h) => `<th>${esc(h)}</th>`).join("")}</tr>${t.rows.map((r) => `<tr>${r.map((v) => `<td>${isNum(v) ? f(v) : esc(v)}</td>`).join("")}</tr>`).join("")}</table></section>`).join("");
    if (!all.length) { view.innerHTML = html + bench + "<p class='notes'>No interventions in this run: <code>jaxsae intervene RUN --filter CONCEPT</code> computes them.</p>"; return; }
    all.forEach((st, j) => {
      const sum = st.summary.map(([k, v]) => `<span class="muted">${esc(k)}</span> <b>${isNum(v) ? (Number.isInteger(v) ? v : f(v)) : esc(v)}</b>`).join(" · ");
      html += `<section class="panel steer" id="steer-${j}" data-steer="${esc(st.kind)}" data-target="${esc(st.target)}"><h2>${describe(st)}</h2><div class="small">top-${esc(st.k)} · level ${f(st.level)} · ${sum}</div>`;
      if (explicit && j !== e) { html += `<div class="small"><a href="#steer/${j}/0">show its lists</a></div></section>`; return; }
      if (!st.samples.length) { html += `<p class="notes">This result has no sample users' lists (computed by an older version): rerun <code>jaxsae intervene</code>.</p></section>`; return; }
      const cur = j === e ? Math.min(s, st.samples.length - 1) : 0;
      html += `<div class="tabs">${st.samples.map((x, k) => `<a class="tab${k === cur ? " on" : ""}" href="#steer/${j}/${k}">user ${esc(x.user_id)}</a>`).join("")}</div>`;
      const x = st.samples[cur];
      const r = userRow.get(x.user);
      if (r != null) html += `<div class="small muted">${userAttrs(r)}</div>`;
      html += `<div class="lists">${toplist("before", x.before, x.after, st)}${toplist("after", x.after, x.before, st)}</div></section>`;
    });
    view.innerHTML = html + bench;
  }
  function toplist(which, list, other, st) {
    const pos = new Map(other.map((i, r) => [i, r]));
    const c = st.concept != null ? C.names.indexOf(st.concept) : -1;
    const lis = list.map((i, r) => {
      const cls = [];
      if (!pos.has(i)) cls.push(which === "before" ? "removed" : "added");
      if (c >= 0 && I.concepts[i] && I.concepts[i].includes(c)) cls.push("target");
      if (st.kind === "promote" && i === st.item) cls.push("promoted");
      let mv = "";
      if (which === "after" && pos.has(i) && pos.get(i) !== r) mv = `<span class="mv">${pos.get(i) > r ? "▲" : "▼"}${Math.abs(pos.get(i) - r)}</span>`;
      return `<li class="${cls.join(" ")}" data-item="${i}">${esc(title(i))}${mv}</li>`;
    }).join("");
    const changed = list.filter((i) => !pos.has(i)).length;
    return `<div><h3>${which === "before" ? "Before" : "After"} <span class="muted small">${changed} ${which === "before" ? "removed" : "added"}</span></h3><ol class="toplist ${which}">${lis}</ol></div>`;
  }

  // ---- routing -----------------------------------------------------------------------------------
  function route() {
    const raw = location.hash.replace(/^#/, ""), cut = raw.startsWith("grid?") ? 4 : -1;  // only the grid has a query
    const query = cut >= 0 ? raw.slice(cut + 1) : "";
    const [name, ...rest] = decodeURIComponent(cut >= 0 ? raw.slice(0, cut) : raw).split("/");
    document.querySelectorAll("nav a[data-nav]").forEach((a) => a.classList.toggle("on", a.dataset.nav === (name || "grid")));
    if (name === "neuron") renderNeuron(parseInt(rest[0], 10));
    else if (name === "search") renderSearch(rest.join("/"));
    else if (name === "steer") renderSteer(parseInt(rest[0] || "0", 10), parseInt(rest[1] || "0", 10), rest.length > 0);
    else { gridState(query); renderGrid(); }
    document.body.setAttribute("data-view", name || "grid");
  }
  document.getElementById("searchform").addEventListener("submit", (e) => { e.preventDefault(); location.hash = "#search/" + encodeURIComponent(document.getElementById("q").value); });
  let shown = null;
  window.addEventListener("hashchange", () => {
    const before = shown, now = location.hash.split("/")[0];
    if (now !== before || now.startsWith("#neuron")) window.scrollTo(0, 0);  // a new view starts at its top
    route();
    shown = now;
  });
  headline();
  route();
  shown = location.hash.split("/")[0];
  document.body.setAttribute("data-render-ms", (performance.now() - t0).toFixed(1));
  document.body.setAttribute("data-load-ms", performance.now().toFixed(1));
  document.body.setAttribute("data-ready", "1");
})();
