/* Loaded by tests/bats/report_hostile.bats into a copy of the report: checks, in
 * the layout headless chromium computed, that each trust caption reads in
 * order (name, level, the rest) and that no table is wider than the page;
 * the result goes into <pre id="probe"> for --dump-dom. */
(function () {
  var out = [], d = document, vw = d.documentElement.clientWidth;
  function rects(n) {
    if (n.nodeType === 3) { var r = d.createRange(); r.selectNodeContents(n); return r.getClientRects(); }
    return n.getClientRects();
  }
  /* a is read before b: b starts on a later line, or on the same line to a's right */
  function before(a, b) {
    var ra = rects(a), rb = rects(b);
    if (!ra.length || !rb.length) return false;
    var e = ra[ra.length - 1], s = rb[0];
    return s.top >= e.bottom - 1 || (Math.abs(s.top - e.top) < 2 && s.left >= e.right - 0.5);
  }
  d.querySelectorAll('figcaption').forEach(function (fc) {
    var b = fc.querySelector('b'), lv = fc.querySelector('.lv');
    if (!b || !lv) return;
    out.push('caption ' + (before(b, lv) && before(lv, fc.lastChild) ? 'inorder' : 'REVERSED') +
             ' ' + JSON.stringify(fc.textContent.slice(0, 60)));
  });
  d.querySelectorAll('table').forEach(function (t) {
    out.push('table ' + t.className + ' ' + (t.getBoundingClientRect().right <= vw ? 'fits' : 'OVERFLOWS'));
  });
  out.push('page ' + (d.documentElement.scrollWidth <= vw ? 'fits' : 'OVERFLOWS'));
  var pre = d.createElement('pre'); pre.id = 'probe'; pre.textContent = out.join('\n');
  d.body.appendChild(pre);
})();
