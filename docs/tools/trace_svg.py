#!/usr/bin/env python3
"""Draws a minirt trace (MINIRT_TRACE=file.json) as an SVG timeline, offline.

    python3 docs/tools/trace_svg.py trace.json timeline.svg [title]

The picture is what ui.perfetto.dev shows for the same file, simplified: one row per track
(the loop, each task, each blocking-pool thread), polls and parks as bars, spawns, wakes,
ends and timer fires as marks. Idle stretches longer than GAP_US are cut short and marked
with their real length (a zigzag on the axis), so a 5 ms sleep does not squeeze the
microsecond-long polls around it into nothing. Only the standard library is used.
"""
import html
import json
import sys

GAP_US = 25.0          # idle stretches longer than this are cut to this
WIDTH = 960
LEFT = 270             # room for track names
RIGHT = 150            # room for the last marks' labels
ROW = 34
TOP = 40

WAKE_COLOURS = {
    "same thread": "#2e7d32",
    "other thread": "#ef6c00",
    "io": "#6a1b9a",
    "timer": "#c62828",
}


def load(path):
    with open(path) as f:
        data = json.load(f)
    return data["traceEvents"] if isinstance(data, dict) else data


def build(events):
    names = {}
    bars = []       # (tid, start, end, label, colour)
    marks = []      # (tid, ts, kind, label, colour)
    open_polls = {}
    for e in events:
        ph, tid, name = e.get("ph"), e.get("tid", 0), e.get("name")
        if ph == "M" and name == "thread_name":
            names[tid] = e["args"]["name"]
        elif ph == "B":
            open_polls[tid] = e["ts"]
        elif ph == "E" and tid in open_polls:
            bars.append((tid, open_polls.pop(tid), e["ts"], "poll", "#1565c0"))
        elif ph == "X":
            args = e.get("args", {})
            if name == "park":
                timeout = args.get("timeout_ms")
                label = "park: timeout %s, %s events" % (
                    "none" if timeout is None else "%g ms" % timeout, args.get("events"))
                bars.append((tid, e["ts"], e["ts"] + e["dur"], label, "#9e9e9e"))
            else:
                bars.append((tid, e["ts"], e["ts"] + e["dur"], name, "#00838f"))
        elif ph == "i":
            args = e.get("args", {})
            if name == "wake":
                source = args.get("source", "")
                label = "wake: " + source
                if source == "other thread":
                    label += " (" + args.get("from_thread", "") + ")"
                marks.append((tid, e["ts"], "wake", label, WAKE_COLOURS.get(source, "#000")))
            elif name == "timer fired":
                marks.append((tid, e["ts"], "timer", "timer fired, %s ms late" % args.get("late_ms"),
                              "#c62828"))
            elif name == "spawn":
                marks.append((tid, e["ts"], "spawn", "spawn", "#37474f"))
            elif name == "end":
                marks.append((tid, e["ts"], "end", "end", "#37474f"))
    return names, bars, marks


def time_map(times):
    """A piecewise-linear map from trace time to drawing time, idle gaps cut to GAP_US."""
    times = sorted(set(times))
    points = [(times[0], 0.0)]
    cuts = []
    for a, b in zip(times, times[1:]):
        d = b - a
        shown = min(d, GAP_US)
        if d > GAP_US:
            cuts.append((points[-1][1] + shown / 2, d))
        points.append((b, points[-1][1] + shown))

    def at(t):
        lo, hi = 0, len(points) - 1
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if points[mid][0] <= t:
                lo = mid
            else:
                hi = mid - 1
        t0, x0 = points[lo]
        if lo + 1 < len(points):
            t1, x1 = points[lo + 1]
            if t1 > t0:
                return x0 + (t - t0) * (x1 - x0) / (t1 - t0)
        return x0

    return at, points[-1][1], cuts


def fmt_us(us):
    if us >= 1000:
        return "%.2f ms" % (us / 1000)
    return "%.0f µs" % us


def render(events, title):
    names, bars, marks = build(events)
    times = [t for b in bars for t in b[1:3]] + [m[1] for m in marks]
    if not times:
        raise SystemExit("no events in the trace")
    at, span, cuts = time_map(times)
    scale = (WIDTH - LEFT - RIGHT) / max(span, 1e-9)
    x = lambda t: LEFT + at(t) * scale
    tids = sorted(set([b[0] for b in bars] + [m[0] for m in marks] + list(names)))
    row = {tid: i for i, tid in enumerate(tids)}
    height = TOP + ROW * len(tids) + 70
    out = [
        '<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" '
        'font-family="sans-serif" font-size="11">' % (WIDTH, height),
        '<rect width="100%" height="100%" fill="white"/>',
        '<text x="10" y="20" font-size="14" font-weight="bold">%s</text>' % html.escape(title),
    ]
    for tid, i in row.items():
        y = TOP + i * ROW
        fill = "#f5f5f5" if i % 2 == 0 else "#ffffff"
        out.append('<rect x="0" y="%d" width="%d" height="%d" fill="%s"/>' % (y, WIDTH, ROW, fill))
        name = names.get(tid, "track %d" % tid)
        if len(name) > 44:
            name = name[:43] + "…"
        out.append('<text x="8" y="%d">%s</text>' % (y + ROW / 2 + 4, html.escape(name)))
    for tid, start, end, label, colour in bars:
        y = TOP + row[tid] * ROW
        w = max(x(end) - x(start), 2)
        out.append('<rect x="%.1f" y="%d" width="%.1f" height="%d" fill="%s" opacity="0.8">'
                   '<title>%s: %s</title></rect>'
                   % (x(start), y + 8, w, ROW - 16, colour, html.escape(label), fmt_us(end - start)))
        if label != "poll" and w > 170:
            out.append('<text x="%.1f" y="%d" fill="white" font-size="10">%s</text>'
                       % (x(start) + 3, y + ROW / 2 + 3, html.escape(label)))
    placed = {}
    for tid, ts, kind, label, colour in sorted(marks, key=lambda m: m[1]):
        y = TOP + row[tid] * ROW
        cx = x(ts)
        if kind == "wake":
            out.append('<path d="M%.1f %d l-5 -8 h10 z" fill="%s"/>' % (cx, y + 9, colour))
        elif kind == "timer":
            out.append('<path d="M%.1f %d l5 5 l-5 5 l-5 -5 z" fill="%s"/>' % (cx, y + 2, colour))
        elif kind == "spawn":
            out.append('<circle cx="%.1f" cy="%d" r="4" fill="none" stroke="%s" stroke-width="2"/>'
                       % (cx, y + ROW / 2, colour))
        else:
            out.append('<rect x="%.1f" y="%d" width="7" height="7" fill="%s"/>'
                       % (cx - 3.5, y + ROW / 2 - 3.5, colour))
        if kind in ("wake", "timer"):
            # Stagger labels that would overlap on the same row.
            last = placed.get(tid, -1e9)
            dy = 0 if cx - last > 120 else 11
            placed[tid] = cx if dy == 0 else last
            out.append('<text x="%.1f" y="%d" fill="%s" font-size="10">%s</text>'
                       % (cx + 4, y + ROW - 3 + dy - 11 if dy else y + ROW - 3, colour,
                          html.escape(label)))
    axis_y = TOP + ROW * len(tids) + 12
    out.append('<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#333"/>'
               % (LEFT, axis_y, WIDTH - RIGHT, axis_y))
    t0 = min(times)
    for t in (min(times), max(times)):
        out.append('<text x="%.1f" y="%d" text-anchor="middle">%s</text>'
                   % (x(t), axis_y + 14, fmt_us(t - t0)))
    for pos, real in cuts:
        cx = LEFT + pos * scale
        out.append('<path d="M%.1f %d l3 -5 l3 10 l3 -5" stroke="#333" fill="none"/>'
                   % (cx - 4.5, axis_y))
        out.append('<text x="%.1f" y="%d" text-anchor="middle" font-size="9" fill="#555">%s</text>'
                   % (cx, axis_y + 26, html.escape("⋯ " + fmt_us(real))))
    legend_y = height - 10
    legend = [("poll", "#1565c0"), ("park", "#9e9e9e")] + [
        ("wake: " + k, v) for k, v in WAKE_COLOURS.items()]
    lx = 10
    for label, colour in legend:
        out.append('<rect x="%d" y="%d" width="10" height="10" fill="%s"/>'
                   % (lx, legend_y - 9, colour))
        out.append('<text x="%d" y="%d">%s</text>' % (lx + 14, legend_y, html.escape(label)))
        lx += 24 + 7 * len(label)
    out.append('<text x="%d" y="%d" fill="#555">○ spawn  ■ end  ◆ timer fired</text>'
               % (lx, legend_y))
    out.append("</svg>")
    return "\n".join(out) + "\n"


def main():
    if len(sys.argv) < 3:
        raise SystemExit("usage: trace_svg.py TRACE.json OUT.svg [TITLE]")
    title = sys.argv[3] if len(sys.argv) > 3 else sys.argv[1]
    with open(sys.argv[2], "w") as f:
        f.write(render(load(sys.argv[1]), title))


if __name__ == "__main__":
    main()
