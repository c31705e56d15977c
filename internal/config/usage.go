package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"
)

// flagGroups are the sections of --help, in order. A flag belongs to the
// first group with a prefix equal to its name or to its name up to a dash
// ("tls" takes tls-cert and tls-key); flags no group claims are General,
// so new flags appear without anyone editing this list.
var flagGroups = []struct {
	title    string
	prefixes []string
}{
	{"General", nil},
	{"Logging", []string{"log", "access-log"}},
	{"Registry behaviour and limits", []string{"delete-enabled", "max", "upload", "rate", "quota", "limit"}},
	{"Access control", []string{"auth", "token", "session", "login", "auto-create-projects", "audit", "admin"}},
	{"TLS and ACME", []string{"tls", "acme"}},
	{"Database", []string{"database", "db"}},
	{"Blob storage", []string{"storage", "s3", "blob-dir"}},
	{"Metrics", []string{"metrics"}},
	{"Webhooks", []string{"webhook"}},
}

// FlagGroup is the title of the --help section that lists the flag name.
func FlagGroup(name string) string {
	for _, g := range flagGroups {
		for _, p := range g.prefixes {
			if name == p || strings.HasPrefix(name, p+"-") {
				return g.title
			}
		}
	}
	return flagGroups[0].title
}

// metavars name the value of flags whose type says too little. A flag can
// also name its own value the stdlib way, with `BACKQUOTES` in its usage.
var metavars = map[string]string{
	"addr": "HOST:PORT", "acme-http-addr": "HOST:PORT", "log-level": "LEVEL", "log-format": "FORMAT",
	"config": "FILE", "token-key": "FILE", "session-key": "FILE", "tls-key": "FILE", "acme-ca-root": "FILE",
	"acme-domain": "DOMAIN", "acme-email": "EMAIL", "token-service": "NAME", "storage": "KIND",
	"s3-bucket": "BUCKET", "s3-prefix": "PREFIX", "s3-region": "REGION",
	"s3-access-key": "KEY", "s3-secret-key": "KEY",
}

// metavar is what --help writes after --name: nothing for a boolean.
func metavar(f *flag.Flag) string {
	if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
		return ""
	}
	if strings.Contains(f.Usage, "`") {
		name, _ := flag.UnquoteUsage(f)
		return name
	}
	if m, ok := metavars[f.Name]; ok {
		return m
	}
	var v any
	if g, ok := f.Value.(flag.Getter); ok {
		v = g.Get()
	}
	switch v.(type) {
	case time.Duration:
		return "DURATION"
	case int, int64, uint, uint64:
		if strings.HasSuffix(f.Name, "-size") {
			return "BYTES"
		}
		return "N"
	case float64:
		return "NUMBER"
	}
	for _, s := range [][2]string{{"-addr", "HOST:PORT"}, {"-dir", "DIR"}, {"-file", "FILE"}, {"-cert", "FILE"},
		{"-url", "URL"}, {"-endpoint", "URL"}, {"-directory", "URL"}, {"-realm", "URL"}} {
		if strings.HasSuffix(f.Name, s[0]) {
			return s[1]
		}
	}
	return "VALUE"
}

// defaultText is a flag's default as --help shows it, "" when it has none.
func defaultText(f *flag.Flag) string {
	v := f.DefValue
	if g, ok := f.Value.(flag.Getter); ok {
		switch g.Get().(type) {
		case bool:
			return v
		case string:
			if v == "" {
				return ""
			}
			return fmt.Sprintf("%q", v)
		case time.Duration:
			if d, err := time.ParseDuration(v); err == nil {
				return shortDuration(d)
			}
		}
	}
	if v == "[]" { // an empty list
		return ""
	}
	return v
}

// shortDuration writes 24h for 24h0m0s and 30m for 30m0s.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// ValueHint says what a value of f looks like, for an error about a value
// that does not parse ("a duration such as 90s, 15m or 24h"), or "".
func ValueHint(f *flag.Flag) string {
	g, ok := f.Value.(flag.Getter)
	if !ok {
		return ""
	}
	switch g.Get().(type) {
	case bool:
		return "true or false"
	case time.Duration:
		return "a duration such as 90s, 15m or 24h"
	case int, int64, uint, uint64:
		return "a whole number"
	case float64:
		return "a number"
	}
	return ""
}

// setError is the error of f.Value.Set(val), with the stdlib's "parse
// error" replaced by what the value should look like.
func setError(f *flag.Flag, err error) error {
	if h := ValueHint(f); h != "" && err.Error() == "parse error" {
		return errors.New("want " + h)
	}
	return err
}

// usageWidth is where --help wraps the flag descriptions.
const usageWidth = 100

// glue joins words that --help keeps on one line ("default 30s", "env
// BERTH_ADDR"); it is written as a space.
const glue = "\x00"

// PrintFlags writes fs's flags for --help, GNU-style as the README writes
// them (--addr HOST:PORT), in the sections of FlagGroup, each with its
// default and, if env is not nil, the environment variable env names for
// it:
//
//	--addr HOST:PORT  listen address HOST:PORT (default ":5000", env BERTH_ADDR)
func PrintFlags(w io.Writer, fs *flag.FlagSet, env func(flagName string) string) {
	type line struct{ name, text string }
	groups := map[string][]line{}
	width := 0
	fs.VisitAll(func(f *flag.Flag) {
		name := "--" + f.Name
		_, text := flag.UnquoteUsage(f)
		if m := metavar(f); m != "" {
			name += " " + m
			if !strings.Contains(f.Usage, "`") {
				text = strings.TrimSuffix(text, " "+m) // "listen address HOST:PORT"
			}
		}
		var notes []string
		if d := defaultText(f); d != "" {
			notes = append(notes, "default"+glue+d)
		}
		if env != nil {
			notes = append(notes, "env"+glue+env(f.Name))
		}
		switch {
		case len(notes) == 0:
		case strings.HasSuffix(text, ")"): // "… (0: no limit; default 0, env …)"
			text = strings.TrimSuffix(text, ")") + "; " + strings.Join(notes, ", ") + ")"
		default:
			text += " (" + strings.Join(notes, ", ") + ")"
		}
		g := FlagGroup(f.Name)
		groups[g] = append(groups[g], line{name, text})
		width = max(width, len(name))
	})
	width = min(width, 30)
	first := true
	for _, g := range flagGroups {
		lines := groups[g.title]
		if len(lines) == 0 {
			continue
		}
		if !first {
			fmt.Fprintln(w)
		}
		first = false
		fmt.Fprintf(w, "%s:\n", g.title)
		for _, l := range lines {
			indent := 2 + width + 2
			words := strings.Fields(l.text)
			if len(l.name) > width {
				fmt.Fprintf(w, "  %s\n%s", l.name, strings.Repeat(" ", indent))
			} else {
				fmt.Fprintf(w, "  %-*s  ", width, l.name)
			}
			col := indent
			for i, word := range words {
				if i > 0 && col+1+len(word) > usageWidth {
					fmt.Fprintf(w, "\n%s", strings.Repeat(" ", indent))
					col = indent
				} else if i > 0 {
					io.WriteString(w, " ")
					col++
				}
				io.WriteString(w, strings.ReplaceAll(word, glue, " "))
				col += len(word)
			}
			fmt.Fprintln(w)
		}
	}
}
