package report

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"html/template"
	"strings"
)

// Page is one self-contained HTML report: sections of text, tables and PNG figures, the figures
// embedded as data: URIs so the file needs nothing beside it.
type Page struct {
	Title    string
	Subtitle string
	Sections []Section
}

// Section is one part of a Page. ID is the HTML id (and what the render check counts).
type Section struct {
	ID, Title  string
	Paragraphs []string
	Tables     []Table
	Figures    []Figure
	// Missing, when not empty, says why the section has no content (shown instead of it).
	Missing []string
}

// Table is a caption, a header row and rows of cells (already formatted).
type Table struct {
	Caption string
	Header  []string
	Rows    [][]string
}

// Figure is a PNG with its caption; Name is its file name beside report.md.
type Figure struct {
	Name, Caption string
	PNG           []byte
}

// RenderOK is the document title the page's script sets once every section is present and every
// image has decoded (naturalWidth > 0); otherwise the title starts with RenderFailed and names
// what is wrong. A headless browser's --dump-dom shows it.
const (
	RenderOK     = "uqnn-report-rendered"
	RenderFailed = "uqnn-report-broken"
)

var pageTmpl = template.Must(template.New("page").Funcs(template.FuncMap{
	"png": func(b []byte) template.URL {
		return template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(b))
	},
}).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Title}}</title>
<style>
body{font-family:sans-serif;max-width:1150px;margin:1em auto;color:#222}
table{border-collapse:collapse;font-size:12px;margin:.5em 0}
td,th{border:1px solid #bbb;padding:2px 5px;text-align:right}
th{background:#eee}td:first-child,th:first-child{text-align:left}
figure{display:inline-block;margin:.4em;vertical-align:top}figcaption{font-size:12px}
img{max-width:100%}.missing{color:#a40;font-style:italic}nav a{margin-right:.8em}
</style></head><body>
<h1>{{.Title}}</h1>{{if .Subtitle}}<p>{{.Subtitle}}</p>{{end}}
<nav>{{range .Sections}}<a href="#{{.ID}}">{{.Title}}</a>{{end}}</nav>
{{range .Sections}}<section id="{{.ID}}" class="report-section"><h2>{{.Title}}</h2>
{{range .Paragraphs}}<p>{{.}}</p>{{end}}
{{range .Missing}}<p class="missing">{{.}}</p>{{end}}
{{range .Tables}}{{if .Caption}}<p><b>{{.Caption}}</b></p>{{end}}<table><tr>{{range .Header}}<th>{{.}}</th>{{end}}</tr>
{{range .Rows}}<tr>{{range .}}<td>{{.}}</td>{{end}}</tr>
{{end}}</table>{{end}}
{{range .Figures}}<figure><img alt="{{.Caption}}" src="{{png .PNG}}"><figcaption>{{.Caption}}</figcaption></figure>{{end}}
</section>
{{end}}
<div id="render-check" data-status="pending"></div>
<script>
(function () {
  var want = [{{range $i, $s := .Sections}}{{if $i}}, {{end}}{{$s.ID}}{{end}}];
  function check() {
    var bad = [];
    want.forEach(function (id) { if (!document.getElementById(id)) bad.push("missing section " + id); });
    var imgs = document.images;
    for (var i = 0; i < imgs.length; i++) {
      if (!imgs[i].complete || imgs[i].naturalWidth === 0) bad.push("image " + i + " (" + imgs[i].alt + ") did not render");
    }
    var el = document.getElementById("render-check");
    el.setAttribute("data-images", String(imgs.length));
    el.setAttribute("data-sections", String(document.querySelectorAll("section.report-section").length));
    el.setAttribute("data-status", bad.length ? "broken" : "ok");
    el.textContent = bad.join("; ");
    document.title = bad.length ? "{{.Failed}}: " + bad.join("; ") : "{{.OK}}";
  }
  if (document.readyState === "complete") check(); else window.addEventListener("load", check);
})();
</script>
</body></html>
`))

// HTML renders the page.
func (p Page) HTML() ([]byte, error) {
	var b bytes.Buffer
	err := pageTmpl.Execute(&b, struct {
		Page
		OK, Failed string
	}{p, RenderOK, RenderFailed})
	if err != nil {
		return nil, fmt.Errorf("report: page: %w", err)
	}
	return b.Bytes(), nil
}

// Markdown renders the page as Markdown, each figure as ![caption](figDir/Name).
func (p Page) Markdown(figDir string) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "# %s\n\n", p.Title)
	if p.Subtitle != "" {
		fmt.Fprintf(&b, "%s\n\n", p.Subtitle)
	}
	for _, s := range p.Sections {
		fmt.Fprintf(&b, "## %s\n\n", s.Title)
		for _, t := range s.Paragraphs {
			fmt.Fprintf(&b, "%s\n\n", t)
		}
		for _, t := range s.Missing {
			fmt.Fprintf(&b, "*%s*\n\n", t)
		}
		for _, t := range s.Tables {
			b.WriteString(MarkdownTable(t))
			b.WriteString("\n")
		}
		for _, f := range s.Figures {
			fmt.Fprintf(&b, "![%s](%s/%s)\n\n", f.Caption, figDir, f.Name)
		}
	}
	return []byte(b.String())
}

// MarkdownTable renders a table (its caption in bold above it); | in cells is escaped.
func MarkdownTable(t Table) string {
	var b strings.Builder
	if t.Caption != "" {
		fmt.Fprintf(&b, "**%s**\n\n", t.Caption)
	}
	row := func(cells []string) {
		b.WriteString("|")
		for _, c := range cells {
			fmt.Fprintf(&b, " %s |", strings.ReplaceAll(c, "|", `\|`))
		}
		b.WriteString("\n")
	}
	row(t.Header)
	sep := make([]string, len(t.Header))
	for i := range sep {
		sep[i] = "---"
	}
	row(sep)
	for _, r := range t.Rows {
		row(r)
	}
	return b.String()
}
