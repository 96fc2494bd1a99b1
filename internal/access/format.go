package access

import (
	"encoding/csv"
	"fmt"
	"html/template"
	"io"
	"slices"
	"strings"
	"time"
)

// Report formats beyond the shared table, JSON and YAML.
const (
	CSV      = "csv"
	Markdown = "markdown"
	HTML     = "html"
)

// section is one part of the report a person reads: a heading, lines, tables.
type section struct {
	Title  string
	Level  int
	Lines  []string
	Tables []table
}

type table struct {
	Header []string
	Rows   [][]string
}

// document lays the report out once, for Markdown and HTML alike: per source, per finding,
// per subject.
func (r *Report) document() []section {
	scope := []string{
		"Generated: " + r.Generated.Format(time.RFC3339),
		"Namespaces: " + strings.Join(r.Scope.Namespaces, ", "),
		fmt.Sprintf("Stale after: %d days", r.Scope.StaleDays),
	}
	if len(r.Scope.Excluded) > 0 {
		scope = append(scope, "Excluded by default (--include-system reviews them): "+strings.Join(r.Scope.Excluded, "; "))
	}
	if len(r.Scope.Subjects) > 0 {
		scope = append(scope, "Only subjects matching: "+strings.Join(r.Scope.Subjects, ", "))
	}
	doc := []section{{Title: "Access review", Level: 1, Lines: scope}}
	if len(r.Gaps) > 0 {
		t := table{Header: []string{"Source", "Not read", "Why"}}
		for _, g := range r.Gaps {
			t.Rows = append(t.Rows, []string{g.Source, g.What, g.Reason})
		}
		doc = append(doc, section{Title: "Partial report: what could not be read", Level: 2, Tables: []table{t}})
	}
	doc = append(doc, section{Title: "Summary", Level: 2, Tables: []table{r.summaryTable()}})
	doc = append(doc, section{Title: "Findings", Level: 2, Lines: []string{fmt.Sprintf("%d finding(s).", len(r.Findings))}})
	byseverity := slices.Clone(Rules)
	slices.SortStableFunc(byseverity, func(a, b Rule) int { return a.Severity.rank() - b.Severity.rank() })
	for _, rule := range byseverity {
		t := table{Header: []string{"Subject", "Evidence"}}
		for _, f := range r.Findings {
			if f.Rule == rule.ID {
				t.Rows = append(t.Rows, []string{f.Subject, f.Evidence})
			}
		}
		if len(t.Rows) > 0 {
			doc = append(doc, section{Title: fmt.Sprintf("%s (%s)", rule.ID, rule.Severity), Level: 3,
				Lines: []string{rule.Title + ".", "Fix: " + rule.Fix}, Tables: []table{t}})
		}
	}
	doc = append(doc, section{Title: "Subjects", Level: 2})
	if k := r.Kubernetes; k != nil {
		t := table{Header: []string{"Subject", "Capabilities", "Bindings"}}
		for _, s := range k.Subjects {
			var grants []string
			for _, g := range s.Grants {
				grants = append(grants, g.Binding+" → "+g.Role)
			}
			t.Rows = append(t.Rows, []string{s.ID, s.summary(), strings.Join(grants, "; ")})
		}
		sec := section{Title: "Kubernetes", Level: 3, Tables: []table{t}}
		if len(k.LegacyTokens) > 0 {
			tt := table{Header: []string{"Legacy token Secret", "ServiceAccount", "Created", "Last used"}}
			for _, l := range k.LegacyTokens {
				tt.Rows = append(tt.Rows, []string{l.Secret, l.ServiceAccount, l.Created.Format(time.DateOnly), orDash(l.LastUsed)})
			}
			sec.Tables = append(sec.Tables, tt)
		}
		doc = append(doc, sec)
	}
	if ids := r.Identities; ids != nil {
		t := table{Header: []string{"Identity", "Identifier", "State", "Roles", "Credentials", "Verified", "Last sign-in", "Active sessions", "Devices"}}
		for _, i := range ids.Identities {
			t.Rows = append(t.Rows, []string{i.SubjectID(), i.Identifier, i.State, orDash(strings.Join(i.Roles, ", ")), strings.Join(i.Credentials, ", "),
				orDash(strings.Join(i.Verified, ", ")), i.lastSignIn(), fmt.Sprint(i.ActiveSessions), orDash(strings.Join(i.Devices, "; "))})
		}
		doc = append(doc, section{Title: "Application identities (Kratos)", Level: 3, Lines: []string{ids.Note}, Tables: []table{t}})
	}
	if v := r.Vault; v != nil {
		roles := table{Header: []string{"Role", "Bound ServiceAccounts", "Bound namespaces", "Audience", "Policies"}}
		for _, x := range v.Roles {
			roles.Rows = append(roles.Rows, []string{x.ID, orDash(strings.Join(x.BoundServiceAccounts, ", ")), orDash(strings.Join(x.BoundNamespaces, ", ")),
				orDash(x.Audience), strings.Join(x.Policies, ", ")})
		}
		pols := table{Header: []string{"Policy", "Allows"}}
		for _, p := range v.Policies {
			pols.Rows = append(pols.Rows, []string{p.Name, p.summary()})
		}
		var methods []string
		for _, m := range v.AuthMethods {
			methods = append(methods, m.Path+" ("+m.Type+")")
		}
		doc = append(doc, section{Title: "Vault", Level: 3, Lines: []string{"Auth methods: " + strings.Join(methods, ", ")}, Tables: []table{roles, pols}})
	}
	return doc
}

func (r *Report) summaryTable() table {
	t := table{Header: []string{"Source", "Subjects", "Critical", "High", "Medium", "Low"}}
	subjects := map[string]int{}
	for _, s := range r.Subjects() {
		subjects[s.Source]++
	}
	for _, src := range []string{SourceKubernetes, SourceKratos, SourceVault} {
		row := []string{src, fmt.Sprint(subjects[src])}
		for _, sev := range []Severity{Critical, High, Medium, Low} {
			n := 0
			for _, f := range r.Findings {
				if f.Source == src && f.Severity == sev {
					n++
				}
			}
			row = append(row, fmt.Sprint(n))
		}
		t.Rows = append(t.Rows, row)
	}
	return t
}

func (i Identity) lastSignIn() string {
	if i.LastSignIn == nil {
		return "unknown"
	}
	return i.LastSignIn.Format(time.RFC3339)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// WriteMarkdown writes the report an auditor reads, as Markdown.
func (r *Report) WriteMarkdown(w io.Writer) error {
	var b strings.Builder
	for _, s := range r.document() {
		fmt.Fprintf(&b, "%s %s\n\n", strings.Repeat("#", s.Level), s.Title)
		for _, l := range s.Lines {
			fmt.Fprintf(&b, "%s\n\n", mdEscape(l))
		}
		for _, t := range s.Tables {
			fmt.Fprintf(&b, "| %s |\n|%s\n", strings.Join(t.Header, " | "), strings.Repeat(" --- |", len(t.Header)))
			for _, row := range t.Rows {
				cells := make([]string, len(row))
				for i, c := range row {
					cells[i] = mdEscape(c)
				}
				fmt.Fprintf(&b, "| %s |\n", strings.Join(cells, " | "))
			}
			b.WriteString("\n")
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// mdEscape keeps a cell one cell: names come from the cluster and may hold any character.
func mdEscape(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ", "*", `\*`, "_", `\_`, "<", "&lt;").Replace(s)
}

var htmlReport = template.Must(template.New("report").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Access review</title>
<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #999;padding:.3em .6em;text-align:left;vertical-align:top}</style>
</head><body>
{{range .}}<h{{.Level}}>{{.Title}}</h{{.Level}}>
{{range .Lines}}<p>{{.}}</p>
{{end}}{{range .Tables}}<table><tr>{{range .Header}}<th>{{.}}</th>{{end}}</tr>
{{range .Rows}}<tr>{{range .}}<td>{{.}}</td>{{end}}</tr>
{{end}}</table>
{{end}}{{end}}</body></html>
`))

// WriteHTML writes the report an auditor reads, as one HTML page (escaped by html/template).
func (r *Report) WriteHTML(w io.Writer) error { return htmlReport.Execute(w, r.document()) }

// WriteCSV writes one row per subject: its source, what it can do and its findings.
func (r *Report) WriteCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"source", "subject", "name", "access", "findings"})
	for _, s := range r.Subjects() {
		var rules []string
		for _, f := range r.FindingsOf(s.ID) {
			rules = append(rules, f.Rule)
		}
		_ = cw.Write([]string{s.Source, s.ID, s.Name, s.Access, strings.Join(rules, ";")})
	}
	cw.Flush()
	return cw.Error()
}

// WriteTable writes the terminal view: gaps, findings, and a summary per source.
func (r *Report) WriteTable(w io.Writer) error {
	for _, g := range r.Gaps {
		fmt.Fprintf(w, "NOT READ\t%s: %s\t%s\n", g.Source, g.What, g.Reason)
	}
	if len(r.Gaps) > 0 {
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w, "SEVERITY\tRULE\tSUBJECT\tEVIDENCE")
	for _, f := range r.Findings {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", f.Severity, f.Rule, f.Subject, f.Evidence)
	}
	fmt.Fprintln(w)
	sum := r.summaryTable()
	fmt.Fprintln(w, strings.ToUpper(strings.Join(sum.Header, "\t")))
	for _, row := range sum.Rows {
		fmt.Fprintln(w, strings.Join(row, "\t"))
	}
	return nil
}
