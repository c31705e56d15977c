package retention

import (
	"regexp"
	"strings"
	"time"
	"unicode/utf8"
)

// tableHeader is Harbor's (src/pkg/retention/job.go, logResults).
var tableHeader = []string{"Digest", "Tag", "Kind", "Labels", "PushedTime", "PulledTime", "CreatedTime", "Retention"}

// Kinds in the table's Kind column: Harbor's candidates are all "image";
// berth also lists what goes with them.
const (
	KindImage     = "image"
	KindAccessory = "accessory"
	KindChild     = "child"
)

// Table renders the plan as Harbor's task log does: one row per artifact
// with its tags, labels, times and verdict, drawn as tablewriter v0.0.5
// draws it with Harbor's settings (borders left and right, "|" corners,
// headers as given, centred; numbers right-aligned, text left-aligned).
// Cells are not wrapped (tablewriter wraps text with spaces past 30
// columns, which only labels could have). Rows come in the plan's order:
// the candidates, newest first, then the accessories and children.
func (p *Plan) Table() string {
	rows := make([][]string, 0, len(p.Decisions))
	for i := range p.Decisions {
		d := &p.Decisions[i]
		rows = append(rows, []string{string(d.Digest), strings.Join(d.TagNames(), ","), d.Kind(),
			strings.Join(d.Labels, ","), tableTime(d.PushedTime), tableTime(d.PulledTime), tableTime(d.PushedAt), d.Verdict})
	}
	return renderTable(tableHeader, rows)
}

// Kind is the artifact's kind in the table.
func (d *Decision) Kind() string {
	switch {
	case d.Candidate:
		return KindImage
	case d.AccessoryOf != "":
		return KindAccessory
	}
	return KindChild
}

// tableTime is Harbor's format of a time in the table ("" for never).
func tableTime(t time.Time) string {
	if t.IsZero() || t.Unix() <= 0 {
		return ""
	}
	return t.UTC().Format("2006/01/02 15:04:05")
}

var decimal = regexp.MustCompile(`^-?(?:\d{1,3}(?:,\d{3})*|\d+)(?:\.\d+)?$`)

func renderTable(header []string, rows [][]string) string {
	widths := make([]int, len(header))
	for i, h := range header {
		widths[i] = utf8.RuneCountInString(h)
	}
	for _, r := range rows {
		for i, c := range r {
			widths[i] = max(widths[i], utf8.RuneCountInString(c))
		}
	}
	var b strings.Builder
	b.WriteString("|")
	for i, h := range header {
		gap := widths[i] - utf8.RuneCountInString(h)
		b.WriteString(" " + strings.Repeat(" ", gap/2) + h + strings.Repeat(" ", gap-gap/2) + " |")
	}
	b.WriteString("\n|")
	for _, w := range widths {
		b.WriteString(strings.Repeat("-", w+2) + "|")
	}
	b.WriteString("\n")
	for _, r := range rows {
		b.WriteString("|")
		for i, c := range r {
			gap := strings.Repeat(" ", widths[i]-utf8.RuneCountInString(c))
			if decimal.MatchString(strings.TrimSpace(c)) {
				b.WriteString(" " + gap + c + " |")
			} else {
				b.WriteString(" " + c + gap + " |")
			}
		}
		b.WriteString("\n")
	}
	return b.String()
}
