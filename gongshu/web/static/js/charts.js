/* Charts from data embedded in the page: <div class="chart" data-echarts="ID"></div> renders the ECharts
   option held in <script type="application/json" id="ID">…</script>. Runs on load and after htmx swaps. */
(function () {
  "use strict";
  var FONT = '"WenQuanYi Micro Hei", "Noto Sans CJK SC", "Microsoft YaHei", sans-serif';
  var charts = [];

  function render(root) {
    if (typeof echarts === "undefined") { return; }
    var nodes = (root || document).querySelectorAll("[data-echarts]");
    Array.prototype.forEach.call(nodes, function (el) {
      if (el.getAttribute("data-echarts-ready")) { return; }
      var source = document.getElementById(el.getAttribute("data-echarts"));
      if (!source) { return; }
      var option = JSON.parse(source.textContent);
      option.textStyle = option.textStyle || { fontFamily: FONT };
      var chart = echarts.init(el, null, { renderer: "svg" });
      chart.setOption(option);
      el.setAttribute("data-echarts-ready", "1");
      charts.push(chart);
    });
  }

  document.addEventListener("DOMContentLoaded", function () { render(document); });
  document.addEventListener("htmx:load", function (evt) { render(evt.target); });
  window.addEventListener("resize", function () {
    charts.forEach(function (c) { c.resize(); });
  });
})();
