package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

type figure struct {
	Key, Label, Unit string
	HigherBetter     bool
	Berth, Reference summary
	Ratio            float64 // berth median / reference median
	Target           string  `json:",omitempty"`
	Met              *bool   `json:",omitempty"`
}

type report struct {
	Date     string
	Machine  string
	Reps     int
	Quick    bool
	Duration string
	Figures  []figure
}

func buildReport(runs map[string][]results, reps int, quick bool, dur time.Duration) report {
	r := report{Date: time.Now().UTC().Format(time.RFC3339), Reps: reps, Quick: quick, Duration: dur.Round(time.Second).String(),
		Machine: fmt.Sprintf("%s/%s, %d CPUs, %s", runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.Version())}
	for _, m := range metrics {
		f := figure{Key: m.key, Label: m.label, Unit: m.unit, HigherBetter: m.higherBetter}
		var bv, rv []float64
		for _, res := range runs["berth"] {
			if v, ok := res[m.key]; ok {
				bv = append(bv, v)
			}
		}
		refKey := m.key
		if m.refKey != "" {
			refKey = m.refKey
		}
		for _, res := range runs["reference"] {
			if v, ok := res[refKey]; ok {
				rv = append(rv, v)
			}
		}
		if len(bv) == 0 && len(rv) == 0 {
			continue
		}
		f.Berth, f.Reference = summarize(bv), summarize(rv)
		if f.Reference.Median != 0 {
			f.Ratio = f.Berth.Median / f.Reference.Median
		}
		switch {
		case m.target != 0 && m.higherBetter:
			f.Target = fmt.Sprintf("≥ %.2g×", m.target)
			met := f.Ratio >= m.target
			f.Met = &met
		case m.target != 0:
			f.Target = fmt.Sprintf("≤ %.2g×", m.target)
			met := f.Reference.Median != 0 && f.Ratio <= m.target
			f.Met = &met
		case m.absTarget != 0:
			f.Target = fmt.Sprintf("≤ %g %s", m.absTarget, m.unit)
			met := f.Berth.Median <= m.absTarget
			f.Met = &met
		}
		if m.key == "tags_page_end_ms" {
			start := summarize(valuesOf(runs["berth"], "tags_page_start_ms")).Median
			f.Target = "≤ page at start"
			met := f.Berth.Median <= start*1.1+0.05 // within noise of the start page
			f.Met = &met
		}
		r.Figures = append(r.Figures, f)
	}
	return r
}

func valuesOf(rs []results, key string) []float64 {
	var out []float64
	for _, r := range rs {
		if v, ok := r[key]; ok {
			out = append(out, v)
		}
	}
	return out
}

func fmtNum(v float64) string {
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}

func (r report) markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# berth vs reference registry (distribution v3.1.2)\n\n")
	fmt.Fprintf(&b, "%s · %s · %d repetitions%s · %s\n\n", r.Date, r.Machine, r.Reps, map[bool]string{true: " · QUICK smoke sizes", false: ""}[r.Quick], r.Duration)
	fmt.Fprintf(&b, "Medians with spread (min–max over repetitions). Ratio = berth / reference.\n\n")
	fmt.Fprintf(&b, "| figure | unit | berth | reference | ratio | target | met |\n|---|---|---|---|---|---|---|\n")
	for _, f := range r.Figures {
		met := ""
		if f.Met != nil {
			met = map[bool]string{true: "yes", false: "**no**"}[*f.Met]
		}
		better := "lower is better"
		if f.HigherBetter {
			better = "higher is better"
		}
		fmt.Fprintf(&b, "| %s <sub>(%s)</sub> | %s | %s <sub>%s–%s</sub> | %s <sub>%s–%s</sub> | %s× | %s | %s |\n",
			f.Label, better, f.Unit, fmtNum(f.Berth.Median), fmtNum(f.Berth.Min), fmtNum(f.Berth.Max),
			fmtNum(f.Reference.Median), fmtNum(f.Reference.Min), fmtNum(f.Reference.Max), fmtNum(f.Ratio), f.Target, met)
	}
	return b.String()
}

func (r report) write(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	js, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "results.json"), js, 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "results.md"), []byte(r.markdown()), 0o644)
}
