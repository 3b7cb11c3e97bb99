// Draws every element with class "chart" from its data-series attribute with uPlot:
// {"x": [epoch seconds...], "sent": [...], "delivered": [...], "stops": [...]} and
// data-labels {"sent": "...", "delivered": "...", "stops": "..."}. No inline script: the
// customer area's CSP allows scripts from this server only. Charts inside a fragment htmx
// swapped in (a campaign's progress) are drawn again after the swap.
(function () {
  "use strict";
  var COLOURS = { sent: "#1f5fa8", delivered: "#2e7d32", stops: "#c62828" };

  function draw(element) {
    if (typeof uPlot === "undefined" || element.dataset.drawn === "1") { return; }
    var data, labels;
    try {
      data = JSON.parse(element.dataset.series);
      labels = JSON.parse(element.dataset.labels || "{}");
    } catch (error) { return; }
    var measures = ["sent", "delivered", "stops"];
    var series = [{}];
    var columns = [data.x];
    measures.forEach(function (name) {
      series.push({ label: labels[name] || name, stroke: COLOURS[name], width: 2,
                    points: { show: data.x.length < 40 } });
      columns.push(data[name]);
    });
    element.dataset.drawn = "1";
    var width = Math.max(280, Math.min(element.clientWidth || 640, 960));
    var options = {
      width: width,
      height: 240,
      series: series,
      scales: { x: { time: true } },
      axes: [{}, { size: 60 }],
      legend: { show: true },
    };
    new uPlot(options, columns, element);
  }

  function drawAll(root) {
    var charts = (root || document).querySelectorAll(".chart[data-series]");
    for (var i = 0; i < charts.length; i++) { draw(charts[i]); }
  }

  document.addEventListener("DOMContentLoaded", function () { drawAll(document); });
  document.addEventListener("htmx:afterSettle", function (event) { drawAll(event.target); });
})();
