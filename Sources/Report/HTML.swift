/// The pieces every HTML page lanekeeper writes is made of: one self-contained file (inline
/// CSS, no script, no font or image fetched; a Content-Security-Policy that forbids any
/// request), light and dark themes, print rules, and escaping of every string.
///
/// Anything that comes from a capture or a policy (interface names, hostnames inside SMB or
/// iSCSI names, paths, the policy's text) must only reach a page through `escape` (the
/// helpers here escape what they are given as text).
public enum HTML {
    /// Escapes text for HTML (or XML) content and quoted attribute values: `& < > " '`;
    /// control characters other than tab and newline, and U+FFFE/U+FFFF, become U+FFFD.
    /// With `whitespaceAsReferences`, tab and newline become character references (so that an
    /// XML attribute keeps them).
    public static func escape(_ text: String, whitespaceAsReferences: Bool = false) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            case "\n" where whitespaceAsReferences: out += "&#10;"
            case "\t" where whitespaceAsReferences: out += "&#9;"
            case "\n", "\t": out.unicodeScalars.append(scalar)
            case _ where scalar.value < 0x20 || (0x7f...0x9f).contains(scalar.value)
                || (0xFFFE...0xFFFF).contains(scalar.value):
                out += "\u{FFFD}"
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    /// The whole document around `body` (already HTML).
    public static func page(title: String, body: String) -> String {
        """
        <!DOCTYPE html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <meta name="color-scheme" content="light dark">
        <meta name="generator" content="lanekeeper">
        <title>\(escape(title))</title>
        <style>\(style)</style>
        </head>
        <body>
        \(body)
        </body>
        </html>

        """
    }

    /// How a verdict-like outcome looks: `pass`, `fail` or `inconclusive`.
    public enum Tone: String, Sendable {
        case pass, fail, inconclusive
    }

    /// The banner at the top of a page: a headline and the reasons under it.
    public static func banner(_ tone: Tone, headline: String, reasons: [String]) -> String {
        var out = "<header class=\"banner \(tone.rawValue)\" role=\"status\">\n"
        out += "<h1 id=\"verdict\">\(escape(headline))</h1>\n"
        if !reasons.isEmpty { out += list(reasons, class: "reasons") }
        return out + "</header>\n"
    }

    /// A bulleted list of text items.
    public static func list(_ items: [String], class name: String? = nil) -> String {
        var out = name.map { "<ul class=\"\($0)\">\n" } ?? "<ul>\n"
        for item in items { out += "<li>\(escape(item))</li>\n" }
        return out + "</ul>\n"
    }

    /// A table row: text cells, and an optional class for the row.
    public struct Row: Sendable {
        public var cells: [String]
        public var rowClass: String?

        public init(_ cells: [String], class rowClass: String? = nil) {
            self.cells = cells
            self.rowClass = rowClass
        }
    }

    /// A table of text cells; columns in `numeric` are right-aligned with tabular figures.
    /// A row with fewer cells than the header has its last cell span the rest.
    public static func table(
        caption: String? = nil, header: [String], rows: [Row], numeric: Set<Int> = [], class name: String? = nil
    ) -> String {
        var out = "<div class=\"scroll\"><table\(name.map { " class=\"\($0)\"" } ?? "")>\n"
        if let caption { out += "<caption>\(escape(caption))</caption>\n" }
        out += "<thead><tr>"
        for (index, title) in header.enumerated() {
            out += "<th scope=\"col\"\(numeric.contains(index) ? " class=\"num\"" : "")>\(escape(title))</th>"
        }
        out += "</tr></thead>\n<tbody>\n"
        for row in rows {
            out += row.rowClass.map { "<tr class=\"\($0)\">" } ?? "<tr>"
            for (index, cell) in row.cells.enumerated() {
                let span = index == row.cells.count - 1 && row.cells.count < header.count
                    ? " colspan=\"\(header.count - index)\"" : ""
                out += "<td\(numeric.contains(index) && span.isEmpty ? " class=\"num\"" : "")\(span)>\(escape(cell))</td>"
            }
            out += "</tr>\n"
        }
        return out + "</tbody>\n</table></div>\n"
    }

    /// A section with a heading; `body` is HTML.
    public static func section(_ title: String, id: String, _ body: String) -> String {
        "<section id=\"\(id)\">\n<h2>\(escape(title))</h2>\n\(body)</section>\n"
    }

    /// Collapsible content (`body` is HTML); opened in print.
    public static func details(_ summary: String, open: Bool = false, _ body: String) -> String {
        "<details\(open ? " open" : "")><summary>\(escape(summary))</summary>\n\(body)</details>\n"
    }

    /// Preformatted text (a policy file).
    public static func preformatted(_ text: String) -> String {
        "<pre>\(escape(text))</pre>\n"
    }

    /// A paragraph of text.
    public static func paragraph(_ text: String, class name: String? = nil) -> String {
        "<p\(name.map { " class=\"\($0)\"" } ?? "")>\(escape(text))</p>\n"
    }

    static let style = """
        :root{color-scheme:light dark;--bg:#ffffff;--fg:#1f2328;--muted:#59636e;--line:#d1d9e0;--panel:#f6f8fa;\
        --pass:#1a7f37;--pass-bg:#dafbe1;--fail:#cf222e;--fail-bg:#ffebe9;--inc:#9a6700;--inc-bg:#fff8c5;\
        --storage:#e16f24;--other:#8fa3b8;--mark:#cf222e;--grid:#d1d9e0}
        @media screen and (prefers-color-scheme: dark){:root{--bg:#0d1117;--fg:#e6edf3;--muted:#9198a1;--line:#3d444d;\
        --panel:#151b23;--pass:#3fb950;--pass-bg:#12261e;--fail:#ff7b72;--fail-bg:#2d1214;--inc:#d29922;\
        --inc-bg:#2b2111;--storage:#f0883e;--other:#56687d;--mark:#ff5c57;--grid:#30363d}}
        *{box-sizing:border-box}
        body{margin:0 auto;max-width:1200px;padding:1.5rem;background:var(--bg);color:var(--fg);\
        font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif}
        h1{font-size:1.6rem;margin:0 0 .4rem}h2{font-size:1.2rem;margin:2rem 0 .6rem;\
        border-bottom:1px solid var(--line);padding-bottom:.3rem}h3{font-size:1rem;margin:1.2rem 0 .3rem}
        .banner{border:2px solid;border-radius:8px;padding:1rem 1.25rem}
        .banner.pass{border-color:var(--pass);background:var(--pass-bg)}.banner.pass h1{color:var(--pass)}
        .banner.fail{border-color:var(--fail);background:var(--fail-bg)}.banner.fail h1{color:var(--fail)}
        .banner.inconclusive{border-color:var(--inc);background:var(--inc-bg)}.banner.inconclusive h1{color:var(--inc)}
        .reasons{margin:.3rem 0 0;padding-left:1.3rem}.meta{color:var(--muted)}
        .scroll{overflow-x:auto}
        table{border-collapse:collapse;width:100%;font-size:.88rem}
        caption{text-align:left;color:var(--muted);padding:.2rem 0}
        th,td{border-bottom:1px solid var(--line);padding:.3rem .5rem;text-align:left;vertical-align:top}
        th{background:var(--panel);font-weight:600;white-space:nowrap}
        td{overflow-wrap:break-word}
        table.cases td:last-child{white-space:pre-line}
        .num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
        tr.rest td{color:var(--muted);font-style:italic}
        tr.bad td{background:var(--fail-bg)}tr.bad td:first-child{color:var(--fail);font-weight:600}
        tr.good td:first-child{color:var(--pass);font-weight:600}
        figure{margin:1rem 0;break-inside:avoid}figcaption{font-weight:600;margin-bottom:.2rem}
        figcaption .meta{font-weight:400}
        svg.timeline{width:100%;height:auto;display:block;background:var(--panel);border:1px solid var(--line);\
        border-radius:6px}
        svg .storage{fill:var(--storage)}svg .other{fill:var(--other)}
        svg .mark{fill:var(--mark)}svg .span{fill:var(--mark);opacity:.13}
        svg .grid{stroke:var(--grid);stroke-width:1}svg text{fill:var(--muted);font-size:12px}
        .legend{display:flex;gap:1.2rem;flex-wrap:wrap;font-size:.85rem;color:var(--muted);margin:.2rem 0}
        .key{display:inline-block;width:.9em;height:.9em;border-radius:2px;vertical-align:-.1em;margin-right:.3em}
        .key.storage{background:var(--storage)}.key.other{background:var(--other)}.key.mark{background:var(--mark)}
        pre{background:var(--panel);border:1px solid var(--line);border-radius:6px;padding:.8rem;overflow-x:auto;\
        font-size:.85rem;white-space:pre-wrap;overflow-wrap:anywhere}
        details{margin:.6rem 0}summary{cursor:pointer;color:var(--muted)}
        footer{margin-top:2rem;color:var(--muted);font-size:.8rem}
        @media print{:root{--bg:#fff;--fg:#000;--panel:#fff}body{max-width:none;padding:0;font-size:11pt}\
        *{-webkit-print-color-adjust:exact;print-color-adjust:exact}\
        details::details-content{content-visibility:visible;display:contents}summary{display:none}\
        figure,tr{break-inside:avoid}h2,figcaption{break-after:avoid}.scroll{overflow:visible}}
        """
}
