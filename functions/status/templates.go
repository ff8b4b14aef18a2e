package status

import (
	"embed"
	"html/template"
)

//go:embed templates/*.html
var templateFiles embed.FS

//go:embed templates/style.css
var styleCSS string

// parsePages parses the page templates; they are embedded, so a parse error
// is a programming error caught by every test.
func parsePages() *template.Template {
	funcs := template.FuncMap{"css": func() template.CSS { return template.CSS(styleCSS) }}
	return template.Must(template.New("pages").Funcs(funcs).ParseFS(templateFiles, "templates/*.html"))
}
