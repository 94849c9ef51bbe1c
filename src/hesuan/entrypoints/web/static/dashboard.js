/* Command centre: the district map (Apache ECharts over the GeoJSON shipped with Hesuan — no
 * map tiles), samples per hour and per-stage turnaround; the numbers refresh every 30 s from
 * /web/dashboard.json. Without JavaScript the same numbers are in the page's tables. */
(function () {
  "use strict";
  if (!window.echarts) { return; }
  var data = JSON.parse(document.getElementById("dashboard-data").textContent);
  var T = JSON.parse(document.getElementById("dashboard-text").textContent);
  var metricEl = document.getElementById("map-metric");
  var charts = {}, geoReady = false;

  function chart(id) {
    if (!charts[id]) { charts[id] = echarts.init(document.getElementById(id), null, { renderer: "canvas" }); }
    return charts[id];
  }

  function localHour(ms) {
    var d = new Date(ms + 8 * 3600 * 1000);  // Beijing time
    return ("0" + d.getUTCHours()).slice(-2) + ":00";
  }

  function drawMap() {
    if (!geoReady) { return; }
    var metric = metricEl.value, good = metric !== "overdue_pct";
    chart("map").setOption({
      tooltip: {
        trigger: "item",
        formatter: function (p) {
          var r = p.data && p.data.row;
          if (!r) { return p.name + ": " + T.no_data; }
          return p.name + "<br>" + T.people + ": " + r.people + "<br>" + T[metric] + ": " + (p.value == null ? "—" : p.value);
        }
      },
      visualMap: {
        min: 0, max: 100, calculable: false, orient: "horizontal", left: "center", bottom: 0,
        text: ["100%", "0%"], itemHeight: 120,
        inRange: { color: good ? ["#d32f2f", "#e0b400", "#1e9e4a"] : ["#1e9e4a", "#e0b400", "#d32f2f"] }
      },
      series: [{
        type: "map", map: "taiyuan", roam: false, top: 10, bottom: 50,
        label: { show: true, fontSize: 10 },
        itemStyle: { areaColor: "#e4e7ea", borderColor: "#fff" },
        emphasis: { label: { show: true } },
        data: data.districts.map(function (r) { return { name: r.name, value: r[metric], row: r }; })
      }]
    }, true);
  }

  function drawCharts() {
    chart("per-hour").setOption({
      grid: { left: 40, right: 10, top: 20, bottom: 30 },
      tooltip: { trigger: "axis" },
      xAxis: { type: "category", data: data.samples_per_hour.map(function (x) { return localHour(x[0]); }) },
      yAxis: { type: "value", minInterval: 1 },
      series: [{ name: T.samples, type: "bar", data: data.samples_per_hour.map(function (x) { return x[1]; }), itemStyle: { color: "#0b6e4f" } }]
    }, true);
    var stages = data.turnaround;
    chart("turnaround").setOption({
      grid: { left: 40, right: 10, top: 30, bottom: 60 },
      tooltip: { trigger: "axis" },
      legend: { top: 0 },
      xAxis: { type: "category", data: stages.map(function (x) { return T.stages[x.stage] || x.stage; }), axisLabel: { interval: 0, rotate: 30, fontSize: 10 } },
      yAxis: { type: "value", name: "min" },
      series: [
        { name: T.p50, type: "bar", data: stages.map(function (x) { return x.p50; }), itemStyle: { color: "#1e9e4a" } },
        { name: T.p90, type: "bar", data: stages.map(function (x) { return x.p90; }), itemStyle: { color: "#e0b400" } }
      ]
    }, true);
  }

  function pick(obj, path) {
    return path.split(".").reduce(function (o, k) { return o == null ? undefined : o[k]; }, obj);
  }

  function updateNumbers() {
    Array.prototype.forEach.call(document.querySelectorAll("[data-k]"), function (el) {
      var v = pick(data, el.dataset.k);
      el.textContent = v == null ? (/^labs\..*_pct$/.test(el.dataset.k) ? "—" : "0") : String(v);
      el.parentNode.classList.toggle("bad", /overdue|late|positive|discrep|outstanding|control_failures/.test(el.dataset.k) && v > 0);
    });
    document.getElementById("as-of").textContent = data.as_of_local;
    document.querySelector("#figures-window small").textContent = data.window_text;
    var list = document.getElementById("changes");
    list.textContent = "";
    (data.changes_text || []).forEach(function (c) {
      var li = document.createElement("li");
      li.dataset.why = c.why;
      li.textContent = c.text;
      list.appendChild(li);
    });
    document.getElementById("no-changes").hidden = (data.changes_text || []).length > 0;
  }

  function refresh() {
    fetch("/web/dashboard.json", { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { if (!r.ok) { throw new Error(r.status); } return r.json(); })
      .then(function (d) { data = d; updateNumbers(); drawMap(); drawCharts(); })
      .catch(function () { /* keep the last numbers; try again at the next tick */ });
  }

  fetch("/web/districts.geojson", { credentials: "same-origin" })
    .then(function (r) { return r.json(); })
    .then(function (geo) { echarts.registerMap("taiyuan", geo); geoReady = true; drawMap(); document.getElementById("map").dataset.ready = "1"; });
  drawCharts();
  metricEl.addEventListener("change", drawMap);
  window.addEventListener("resize", function () { Object.keys(charts).forEach(function (k) { charts[k].resize(); }); });
  setInterval(refresh, 30000);
})();
