// The fleet page: the table sorts and filters, the map draws every bin from /web/fleet.json.
// Plain browser JavaScript, no build step; text is set with textContent, never as HTML.
"use strict";

(function () {
  const SVG = "http://www.w3.org/2000/svg";
  const W = 640, H = 480, PAD = 40, TILE = 256;
  const MARK = { offline: "O", locked: "L", alarm: "A", fault: "F", ok: "" };

  // ---- the table ---------------------------------------------------------------
  const table = document.getElementById("bins");
  const body = table.tBodies[0];
  const filter = document.getElementById("filter");
  const statusFilter = document.getElementById("status-filter");

  function applyFilter() {
    const text = filter.value.trim().toLowerCase();
    const status = statusFilter.value;
    for (const row of body.rows) {
      const matchText = !text || row.textContent.toLowerCase().includes(text);
      const matchStatus = !status || row.dataset.status === status;
      row.hidden = !(matchText && matchStatus);
    }
  }
  filter.addEventListener("input", applyFilter);
  statusFilter.addEventListener("change", applyFilter);

  for (const th of table.tHead.rows[0].cells) {
    th.querySelector("button").addEventListener("click", function () {
      const index = th.cellIndex;
      const numeric = th.dataset.type === "number";
      const ascending = th.getAttribute("aria-sort") !== "ascending";
      for (const other of table.tHead.rows[0].cells) other.removeAttribute("aria-sort");
      th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
      const rows = Array.from(body.rows);
      rows.sort(function (a, b) {
        const x = a.cells[index].dataset.value, y = b.cells[index].dataset.value;
        if (x === "" && y !== "") return 1;   // empty cells last, either way
        if (y === "" && x !== "") return -1;
        const order = numeric ? Number(x) - Number(y) : x.localeCompare(y);
        return ascending ? order : -order;
      });
      for (const row of rows) body.appendChild(row);
    });
  }

  // ---- the map (Web Mercator, optional tiles, a scale bar) ----------------------
  const svg = document.getElementById("map");

  function el(name, attrs, text) {
    const node = document.createElementNS(SVG, name);
    for (const key in attrs) node.setAttribute(key, String(attrs[key]));
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function project(lat, lon, zoom) {
    const size = TILE * Math.pow(2, zoom);
    const s = Math.sin((Math.max(-85, Math.min(85, lat)) * Math.PI) / 180);
    return {
      x: ((lon + 180) / 360) * size,
      y: (0.5 - Math.log((1 + s) / (1 - s)) / (4 * Math.PI)) * size,
    };
  }

  function niceMetres(most) {
    const steps = [1, 2, 5];
    let best = 1;
    for (let p = 1; p < 1e7; p *= 10) for (const s of steps) if (s * p <= most) best = s * p;
    return best;
  }

  function draw(fleet) {
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    svg.appendChild(el("rect", { x: 0, y: 0, width: W, height: H, class: "map-bg" }));
    const placed = fleet.bins.filter((b) => b.lat !== null && b.lon !== null);
    const unplaced = fleet.bins.length - placed.length;
    if (placed.length === 0) {
      svg.appendChild(el("text", { x: W / 2, y: H / 2, class: "map-note" }, "No bin has a location yet."));
      return;
    }
    let zoom = 18;
    for (; zoom > 0; zoom--) {
      const pts = placed.map((b) => project(b.lat, b.lon, zoom));
      const xs = pts.map((p) => p.x), ys = pts.map((p) => p.y);
      if (Math.max(...xs) - Math.min(...xs) <= W - 2 * PAD && Math.max(...ys) - Math.min(...ys) <= H - 2 * PAD) break;
    }
    const pts = placed.map((b) => project(b.lat, b.lon, zoom));
    const cx = (Math.max(...pts.map((p) => p.x)) + Math.min(...pts.map((p) => p.x))) / 2;
    const cy = (Math.max(...pts.map((p) => p.y)) + Math.min(...pts.map((p) => p.y))) / 2;
    const ox = cx - W / 2, oy = cy - H / 2;

    const tileUrl = svg.dataset.tileUrl;
    if (tileUrl) {
      const n = Math.pow(2, zoom);
      for (let tx = Math.floor(ox / TILE); tx <= Math.floor((ox + W) / TILE); tx++) {
        for (let ty = Math.floor(oy / TILE); ty <= Math.floor((oy + H) / TILE); ty++) {
          if (ty < 0 || ty >= n) continue;
          const href = tileUrl.replace("{z}", zoom).replace("{x}", ((tx % n) + n) % n).replace("{y}", ty);
          svg.appendChild(el("image", { href: href, x: tx * TILE - ox, y: ty * TILE - oy, width: TILE, height: TILE }));
        }
      }
    }

    placed.forEach(function (bin, i) {
      const x = pts[i].x - ox, y = pts[i].y - oy;
      const group = el("g", { class: "bin status-" + bin.status, "data-bin": bin.bin_id, transform: "translate(" + x + "," + y + ")" });
      const fill = bin.fill_pct === null ? "no reading" : bin.fill_pct + " %";
      group.appendChild(el("title", {}, bin.bin_id + " (" + bin.region + "): " + fill + ", " + bin.status));
      if (bin.status === "ok") {
        group.appendChild(el("circle", { r: 8, class: "band-" + bin.band }));
      } else {
        // not colour alone: a square with the status letter
        group.appendChild(el("rect", { x: -9, y: -9, width: 18, height: 18, class: "band-" + bin.band }));
        group.appendChild(el("text", { y: 4, class: "mark" }, MARK[bin.status]));
      }
      // each marker opens its bin's page
      const link = el("a", { href: "/bins/" + encodeURIComponent(bin.bin_id) });
      link.appendChild(group);
      svg.appendChild(link);
    });

    // scale bar: Web Mercator metres per pixel at the map's centre latitude
    const lat = placed.reduce((sum, b) => sum + b.lat, 0) / placed.length;
    const perPixel = (156543.03392 * Math.cos((lat * Math.PI) / 180)) / Math.pow(2, zoom);
    const metres = niceMetres(perPixel * W * 0.25);
    const width = metres / perPixel;
    const label = metres >= 1000 ? metres / 1000 + " km" : metres + " m";
    const bar = el("g", { class: "scale", transform: "translate(16," + (H - 16) + ")" });
    bar.appendChild(el("path", { d: "M0,-6 V0 H" + width + " V-6" }));
    bar.appendChild(el("text", { x: width + 6, y: 0 }, label));
    svg.appendChild(bar);
    if (unplaced) {
      svg.appendChild(el("text", { x: W - 16, y: 20, class: "map-note end" }, unplaced + " without a location"));
    }
    svg.dataset.drawn = String(placed.length);
  }

  fetch("/web/fleet.json", { credentials: "same-origin", headers: { Accept: "application/json" } })
    .then(function (response) {
      if (!response.ok) throw new Error("fleet.json: " + response.status);
      return response.json();
    })
    .then(draw)
    .catch(function (err) {
      svg.appendChild(el("text", { x: W / 2, y: H / 2, class: "map-note" }, String(err)));
    });
})();
