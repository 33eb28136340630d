/* Draws the report's charts from the embedded JSON with uPlot (inlined before this script).
 * Charts inside a closed <details> are drawn when it opens, and every chart before printing,
 * so a long report opens fast and still prints whole. No request is ever made. */
(() => {
  const source = document.getElementById('scalpels-charts');
  if (!source || typeof uPlot === 'undefined') return;
  const specs = {};
  for (const c of JSON.parse(source.textContent)) specs[c.id] = c;
  const drawn = [];
  const HEIGHT = 220;

  const alpha = (color, a) => {
    const n = Number.parseInt(color.slice(1), 16);
    return `rgba(${n >> 16},${(n >> 8) & 255},${n & 255},${a})`;
  };

  /** Axis and legend numbers: 3–4 significant digits, k/M/G beyond 10 000. */
  const si = (v) => {
    if (v === null || v === undefined || Number.isNaN(v)) return '–';
    const a = Math.abs(v);
    if (a >= 1e9) return `${+(v / 1e9).toPrecision(3)}G`;
    if (a >= 1e6) return `${+(v / 1e6).toPrecision(3)}M`;
    if (a >= 1e4) return `${+(v / 1e3).toPrecision(3)}k`;
    return String(+v.toPrecision(4));
  };

  const pathsFor = (kind) => {
    if (kind === 'points') return () => null;
    if (kind === 'steps') return uPlot.paths.stepped({ align: 1 });
    if (kind === 'bars') return uPlot.paths.bars({ size: [0.92, Number.POSITIVE_INFINITY], align: 0 });
    return undefined;
  };

  /** Step windows as shaded bands under the series, hooks as vertical lines over them. */
  const decorations = (spec) => ({
    drawClear: [
      (u) => {
        if (!spec.bands) return;
        const ctx = u.ctx;
        const px = devicePixelRatio;
        ctx.save();
        spec.bands.forEach((b, i) => {
          const x0 = u.valToPos(b.from, 'x', true);
          const x1 = u.valToPos(b.to, 'x', true);
          ctx.fillStyle = i % 2 ? 'rgba(59,110,168,0.06)' : 'rgba(217,130,43,0.08)';
          ctx.fillRect(x0, u.bbox.top, Math.max(1, x1 - x0), u.bbox.height);
          ctx.fillStyle = '#5f6b7a';
          ctx.font = `${11 * px}px sans-serif`;
          ctx.fillText(b.label, x0 + 3 * px, u.bbox.top + 12 * px);
        });
        ctx.restore();
      },
    ],
    draw: [
      (u) => {
        if (!spec.marks) return;
        const ctx = u.ctx;
        const px = devicePixelRatio;
        ctx.save();
        ctx.strokeStyle = '#7b5ea7';
        ctx.setLineDash([3 * px, 3 * px]);
        for (const m of spec.marks) {
          const x = u.valToPos(m.at, 'x', true);
          ctx.beginPath();
          ctx.moveTo(x, u.bbox.top);
          ctx.lineTo(x, u.bbox.top + u.bbox.height);
          ctx.stroke();
        }
        ctx.restore();
      },
    ],
  });

  const note = (target, className, text) => {
    const el = document.createElement('div');
    el.className = className;
    el.textContent = text;
    target.appendChild(el);
  };

  const draw = (target) => {
    if (target.getAttribute('data-drawn')) return;
    const spec = specs[target.getAttribute('data-chart')];
    if (!spec) return;
    target.setAttribute('data-drawn', '1');
    note(target, 'title', spec.title);
    if (spec.omitted) note(target, 'omitted', `${spec.omitted} more series not drawn (see the table)`);
    const live = spec.series.filter((s) => s.x.length > 0);
    if (live.length === 0) {
      note(target, 'omitted', 'No data.');
      return;
    }
    // Runs and series sample at different times: uPlot.join aligns them on one x axis (gaps spanned).
    const data = live.length === 1 ? [live[0].x, live[0].y] : uPlot.join(live.map((s) => [s.x, s.y]));
    const series = [{ label: spec.xLabel }];
    for (const s of live) {
      series.push({
        label: s.label,
        stroke: s.color,
        width: spec.kind === 'points' ? 0 : 1.5,
        dash: s.dash,
        spanGaps: true,
        value: (_u, v) => si(v),
        fill: spec.kind === 'bars' ? alpha(s.color, 0.35) : undefined,
        paths: pathsFor(spec.kind),
        points:
          spec.kind === 'points'
            ? { show: true, size: 4, width: 0, fill: alpha(s.color, 0.6), stroke: alpha(s.color, 0.6) }
            : { show: spec.kind === 'line' && s.x.length <= 40, size: 5, fill: s.color },
      });
    }
    const xs = data[0];
    const plot = new uPlot(
      {
        width: Math.max(320, Math.floor(target.clientWidth - 10)),
        height: HEIGHT,
        series,
        scales: {
          // Bars are centred on their x: pad half a bin on each side so the end bars show whole.
          x:
            spec.kind === 'bars' && xs.length > 1
              ? {
                  time: false,
                  range: (_u, min, max) => [min - (xs[1] - xs[0]) / 2, max + (xs[1] - xs[0]) / 2],
                }
              : { time: false },
          y: spec.yFromZero ? { range: (_u, _min, max) => [0, max > 0 ? max * 1.05 : 1] } : {},
        },
        axes: [
          { label: spec.xLabel, size: 40, values: (_u, splits) => splits.map(si) },
          { label: spec.yLabel, size: 60, values: (_u, splits) => splits.map(si) },
        ],
        legend: { live: true },
        cursor: { drag: { x: true, y: false } },
        hooks: decorations(spec),
      },
      data,
      target,
    );
    drawn.push({ plot, target });
  };

  const drawVisible = (root) => {
    for (const el of root.querySelectorAll('.chart[data-chart]')) {
      if (!el.closest('details:not([open])')) draw(el);
    }
  };

  document.addEventListener(
    'toggle',
    (e) => {
      if (e.target.open) drawVisible(e.target);
    },
    true,
  );
  window.addEventListener('beforeprint', () => {
    for (const d of document.querySelectorAll('details')) d.open = true;
    drawVisible(document);
  });
  let resizeTimer;
  window.addEventListener('resize', () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(() => {
      for (const d of drawn) {
        const w = Math.max(320, Math.floor(d.target.clientWidth - 10));
        if (Math.abs(w - d.plot.width) > 20) d.plot.setSize({ width: w, height: HEIGHT });
      }
    }, 150);
  });
  drawVisible(document);
})();
