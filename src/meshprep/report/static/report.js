// meshprep report: the gallery. Data: window.MESHPREP_INDEX = {columns: [...], rows: [[...]]}
(function () {
  "use strict";
  const index = window.MESHPREP_INDEX;
  const col = Object.fromEntries(index.columns.map((name, i) => [name, i]));
  const pageSize = index.page_size;
  const state = { status: "", format: "", error: "", curation: "", sort: "seconds",
                  descending: true, page: 0 };
  let view = [];

  function value(row, name) { return row[col[name]]; }

  function fillSelect(id, name) {
    const select = document.getElementById(id);
    const values = [...new Set(index.rows.map((r) => value(r, name)).filter((v) => v !== null))];
    values.sort();
    for (const v of values) {
      const option = document.createElement("option");
      option.value = v; option.textContent = v;
      select.appendChild(option);
    }
    select.addEventListener("change", () => { state[select.dataset.key] = select.value; state.page = 0; update(); });
  }

  function apply() {
    view = index.rows.filter((r) =>
      (!state.status || value(r, "status") === state.status) &&
      (!state.format || value(r, "format") === state.format) &&
      (!state.error || value(r, "error_class") === state.error) &&
      (!state.curation || value(r, "curation") === state.curation));
    const key = state.sort, sign = state.descending ? -1 : 1;
    view.sort((a, b) => {
      const x = value(a, key), y = value(b, key);
      if (x === y) return 0;
      if (x === null) return 1;
      if (y === null) return -1;
      return (x < y ? -1 : 1) * sign;
    });
  }

  function thumb(row, target) {
    if (!value(row, "thumb_" + target)) {
      const none = document.createElement("div");
      none.className = "none"; none.textContent = "no " + target;
      return none;
    }
    const img = document.createElement("img");
    img.loading = "lazy"; img.alt = target; img.title = target;
    img.src = value(row, "folder") + "/renders/" +
      (["salient", "ovoxel", "trellis_voxels"].includes(target) ? target + ".png"
        : target + "/000_normal.png");
    return img;
  }

  function card(row) {
    const div = document.createElement("div");
    div.className = "card";
    div.dataset.status = value(row, "status");
    const thumbs = document.createElement("div");
    thumbs.className = "thumbs";
    thumbs.append(thumb(row, "input"), thumb(row, "watertight"));
    if (value(row, "thumb_salient")) thumbs.append(thumb(row, "salient"));
    if (value(row, "thumb_ovoxel")) thumbs.append(thumb(row, "ovoxel"));
    if (value(row, "thumb_trellis_voxels")) thumbs.append(thumb(row, "trellis_voxels"));
    for (const kind of ["parts", "skeleton"]) {
      const src = value(row, "structure_" + kind);  // the report's own render, report-relative
      if (!src) continue;
      const img = document.createElement("img");
      img.loading = "lazy"; img.alt = kind; img.title = kind; img.src = src;
      thumbs.append(img);
    }
    div.appendChild(thumbs);
    const failed = value(row, "status") === "failed";
    const passes = value(row, "asset_page") || value(row, "passes_page");
    const id = document.createElement(failed || passes ? "a" : "div");
    id.className = "id"; id.textContent = value(row, "asset_id").slice(0, 16);
    if (failed) id.href = "failed/" + value(row, "asset_id") + ".html";
    else if (passes) id.href = "assets/" + value(row, "asset_id") + ".html";
    div.appendChild(id);
    const list = document.createElement("dl");
    for (const name of index.card_columns) {
      const v = value(row, name);
      if (v === null || v === undefined) continue;
      const dt = document.createElement("dt"); dt.textContent = name;
      const dd = document.createElement("dd");
      dd.textContent = typeof v === "number" && !Number.isInteger(v) ? v.toFixed(3) : String(v);
      if (name === "status") dd.className = v;
      list.append(dt, dd);
    }
    div.appendChild(list);
    return div;
  }

  function render() {
    const gallery = document.getElementById("gallery");
    gallery.replaceChildren(...view.slice(state.page * pageSize, (state.page + 1) * pageSize).map(card));
    const pages = Math.max(1, Math.ceil(view.length / pageSize));
    document.getElementById("page").textContent = `page ${state.page + 1} of ${pages} (${view.length} assets)`;
    document.getElementById("prev").disabled = state.page === 0;
    document.getElementById("next").disabled = state.page + 1 >= pages;
  }

  function update() { apply(); render(); }

  document.addEventListener("DOMContentLoaded", () => {
    fillSelect("filter-status", "status");
    fillSelect("filter-format", "format");
    fillSelect("filter-error", "error_class");
    fillSelect("filter-curation", "curation");
    const sort = document.getElementById("sort");
    for (const name of index.sortable) {
      const option = document.createElement("option");
      option.value = name; option.textContent = name; option.selected = name === state.sort;
      sort.appendChild(option);
    }
    sort.addEventListener("change", () => { state.sort = sort.value; state.page = 0; update(); });
    document.getElementById("order").addEventListener("change", (e) => {
      state.descending = e.target.value === "desc"; state.page = 0; update();
    });
    document.getElementById("prev").addEventListener("click", () => { state.page -= 1; render(); });
    document.getElementById("next").addEventListener("click", () => { state.page += 1; render(); });
    update();
    document.body.dataset.ready = "1";
  });
})();
