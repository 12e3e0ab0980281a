// A small line diff: longest common subsequence of the lines (after the common head
// and tail are set aside), grouped into hunks with a few lines of context.

// Edit script from `a` to `b`: [{op: "same"|"del"|"add", text, oldLine, newLine}],
// line numbers 1-based (null on the side a line does not exist).
export function diffLines(a, b) {
  let head = 0;
  while (head < a.length && head < b.length && a[head] === b[head]) head++;
  let tail = 0;
  while (tail < a.length - head && tail < b.length - head
    && a[a.length - 1 - tail] === b[b.length - 1 - tail]) tail++;
  const midA = a.slice(head, a.length - tail);
  const midB = b.slice(head, b.length - tail);
  const n = midA.length;
  const m = midB.length;
  // lcs[i][j]: length of the LCS of midA[i:] and midB[j:], one typed row per i
  const lcs = Array.from({ length: n + 1 }, () => new Uint32Array(m + 1));
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      lcs[i][j] = midA[i] === midB[j] ? lcs[i + 1][j + 1] + 1 : Math.max(lcs[i + 1][j], lcs[i][j + 1]);
    }
  }
  const out = [];
  for (let k = 0; k < head; k++) out.push({ op: "same", text: a[k], oldLine: k + 1, newLine: k + 1 });
  let i = 0;
  let j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && midA[i] === midB[j]) {
      out.push({ op: "same", text: midA[i], oldLine: head + i + 1, newLine: head + j + 1 });
      i++; j++;
    } else if (j < m && (i === n || lcs[i][j + 1] >= lcs[i + 1][j])) {
      out.push({ op: "add", text: midB[j], oldLine: null, newLine: head + j + 1 });
      j++;
    } else {
      out.push({ op: "del", text: midA[i], oldLine: head + i + 1, newLine: null });
      i++;
    }
  }
  for (let k = 0; k < tail; k++) {
    out.push({ op: "same", text: a[a.length - tail + k], oldLine: a.length - tail + k + 1, newLine: b.length - tail + k + 1 });
  }
  // deletions before additions inside each run of changes reads best
  for (let s = 0; s < out.length;) {
    if (out[s].op === "same") { s++; continue; }
    let e = s;
    while (e < out.length && out[e].op !== "same") e++;
    const run = out.slice(s, e);
    out.splice(s, e - s, ...run.filter((x) => x.op === "del"), ...run.filter((x) => x.op === "add"));
    s = e;
  }
  return out;
}

// Hunks of changed lines with `context` unchanged lines around them:
// [{lines: [...edits], skippedBefore: count of unchanged lines left out before}].
export function hunks(edits, context = 3) {
  const keep = new Uint8Array(edits.length);
  edits.forEach((e, k) => {
    if (e.op === "same") return;
    for (let c = Math.max(0, k - context); c <= Math.min(edits.length - 1, k + context); c++) keep[c] = 1;
  });
  const out = [];
  let current = null;
  let skipped = 0;
  edits.forEach((e, k) => {
    if (!keep[k]) { skipped++; current = null; return; }
    if (!current) { current = { lines: [], skippedBefore: skipped }; out.push(current); skipped = 0; }
    current.lines.push(e);
  });
  return { hunks: out, skippedAfter: skipped };
}

export function diffStats(edits) {
  return {
    added: edits.filter((e) => e.op === "add").length,
    removed: edits.filter((e) => e.op === "del").length,
  };
}
