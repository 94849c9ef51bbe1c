/* Drawing a zone on the district map (Apache ECharts over the shipped GeoJSON): each tap adds a
 * corner; the outline is written as a GeoJSON Polygon into the form's hidden field. */
(function () {
  "use strict";
  var el = document.getElementById("draw-map");
  if (!el || !window.echarts) { return; }
  var field = document.getElementById("polygon"), count = document.getElementById("draw-count");
  var chart = echarts.init(el), points = [];

  function draw() {
    var ring = points.length > 2 ? points.concat([points[0]]) : points;
    chart.setOption({
      series: [
        { type: "lines", coordinateSystem: "geo", polyline: true, silent: true,
          lineStyle: { color: "#c62828", width: 2 }, data: ring.length > 1 ? [{ coords: ring }] : [] },
        { type: "scatter", coordinateSystem: "geo", symbolSize: 8, itemStyle: { color: "#c62828" },
          data: points }
      ]
    });
    field.value = points.length > 2 ? JSON.stringify({ type: "Polygon", coordinates: [ring] }) : "";
    count.textContent = points.length ? count.dataset.template.replace("{n}", points.length) : "";
  }

  fetch("/web/districts.geojson", { credentials: "same-origin" })
    .then(function (r) { return r.json(); })
    .then(function (geo) {
      echarts.registerMap("taiyuan", geo);
      chart.setOption({
        geo: { map: "taiyuan", roam: true, label: { show: true, fontSize: 10 },
               itemStyle: { areaColor: "#e8f0ec", borderColor: "#7a8a84" },
               emphasis: { disabled: true } },
        series: []
      });
      el.dataset.ready = "1";
      chart.getZr().on("click", function (e) {
        var p = chart.convertFromPixel({ geoIndex: 0 }, [e.offsetX, e.offsetY]);
        if (p && isFinite(p[0]) && isFinite(p[1])) {
          points.push([Math.round(p[0] * 1e6) / 1e6, Math.round(p[1] * 1e6) / 1e6]);
          draw();
        }
      });
    });
  document.getElementById("draw-clear").addEventListener("click", function () { points = []; draw(); });
  window.addEventListener("resize", function () { chart.resize(); });
})();
