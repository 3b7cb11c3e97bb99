// Draws every element with class "chart" from its data-series attribute with uPlot:
// {"x": [epoch seconds...], "sent": [...], "delivered": [...], "stops": [...]}, data-labels
// {"time": "...", "sent": "...", "delivered": "...", "stops": "..."} (the page's language:
// the template passes them from the catalogues), data-step "hour" or "day" (one bucket) and
// data-zone (the IANA zone the times are shown in). No inline script: the customer area's
// CSP allows scripts from this server only. Charts inside a fragment htmx swapped in (a
// campaign's progress) are drawn again after the swap.
//
// - Time: ticks and legend written by Intl in the page's language (<html lang>) and zone
//   (uPlot's own templates are American: "11/6" for 6 November); a single bucket gets one
//   step of room on each side (uPlot otherwise spreads one point over years: 2027–2029).
// - Counts: the y axis starts at 0 and ticks whole numbers only (no "0.5 message").
(function () {
  "use strict";
  var COLOURS = { sent: "#1f5fa8", delivered: "#2e7d32", stops: "#c62828" };
  var STEPS = { hour: 3600, day: 86400 };
  var WHOLE = [];  // 1, 2, 5, 10, 20, 50...: the y axis' only increments
  for (var power = 1; power <= 1e12; power *= 10) { WHOLE.push(power, 2 * power, 5 * power); }
  // The time axis' increments in seconds, none finer than a bucket (not "02:10" on hours).
  var HOURS = [1, 2, 3, 6, 12].map(function (h) { return h * 3600; });
  var DAYS = [1, 2, 7, 14, 28, 91, 182, 364].map(function (d) { return d * 86400; });

  function formatter(language, options, zone) {
    try {
      return new Intl.DateTimeFormat(language, Object.assign({ timeZone: zone }, options));
    } catch (error) {  // an unknown zone: the browser's own
      return new Intl.DateTimeFormat(language, options);
    }
  }

  function options(element, data, labels) {
    var language = document.documentElement.lang || "fr";
    var zone = element.dataset.zone || undefined;
    var step = STEPS[element.dataset.step] || STEPS.hour;
    var daily = step >= STEPS.day;
    var dayOf = formatter(language, { day: "numeric", month: "short" }, zone);
    var hourOf = formatter(language, { hour: "2-digit", minute: "2-digit" }, zone);
    var whenOf = formatter(
      language, daily ? { dateStyle: "medium" } : { dateStyle: "medium", timeStyle: "short" }, zone);
    var count = new Intl.NumberFormat(language, { maximumFractionDigits: 0 });
    var series = [{
      label: labels.time || "",
      value: function (u, v) { return v == null ? "--" : whenOf.format(new Date(v * 1000)); },
    }];
    ["sent", "delivered", "stops"].forEach(function (name) {
      series.push({
        label: labels[name] || name, stroke: COLOURS[name], width: 2,
        points: { show: data.x.length < 40 },
        value: function (u, v) { return v == null ? "--" : count.format(v); },
      });
    });
    return {
      width: Math.max(280, Math.min(element.clientWidth || 640, 960)),
      height: 240,
      series: series,
      tzDate: zone && uPlot.tzDate ? function (ts) { return uPlot.tzDate(new Date(ts * 1e3), zone); }
        : undefined,
      scales: {
        x: {
          time: true,
          // uPlot 1.6.32 widens a single x to x + 86400 / 1e-3: a thousand days, in seconds.
          range: function (u, min, max) {
            var x = u.data[0];
            var single = x.length > 0 && x[0] === x[x.length - 1];
            return single ? [x[0] - step, x[0] + step] : [min, max];
          },
        },
        y: {
          range: function (u, min, max) {
            return [0, Math.max(1, Math.ceil((max > 0 ? max : 0) * 1.1))];
          },
        },
      },
      axes: [
        {
          incrs: daily ? DAYS : HOURS.concat(DAYS),
          values: function (u, splits, axis, space, incr) {
            var previous = null;
            return splits.map(function (split) {
              var at = new Date(split * 1000);
              var day = dayOf.format(at);
              if (daily || incr >= STEPS.day) { return day; }
              var text = hourOf.format(at) + (day !== previous ? "\n" + day : "");
              previous = day;
              return text;
            });
          },
        },
        {
          size: 60,
          incrs: WHOLE,
          values: function (u, splits) {
            return splits.map(function (v) { return count.format(v); });
          },
        },
      ],
      legend: { show: true },
    };
  }

  function draw(element) {
    if (typeof uPlot === "undefined" || element.dataset.drawn === "1") { return; }
    var data, labels;
    try {
      data = JSON.parse(element.dataset.series);
      labels = JSON.parse(element.dataset.labels || "{}");
    } catch (error) { return; }
    var columns = [data.x, data.sent, data.delivered, data.stops];
    element.dataset.drawn = "1";
    element.uplot = new uPlot(options(element, data, labels), columns, element);
  }

  function drawAll(root) {
    var charts = (root || document).querySelectorAll(".chart[data-series]");
    for (var i = 0; i < charts.length; i++) { draw(charts[i]); }
  }

  document.addEventListener("DOMContentLoaded", function () { drawAll(document); });
  document.addEventListener("htmx:afterSettle", function (event) { drawAll(event.target); });
})();
