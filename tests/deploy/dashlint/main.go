// dashlint lints Grafana dashboards offline, in the manner of Grafana's
// dashboard-linter (github.com/grafana/dashboard-linter), which cannot be
// installed: the Go module proxy available to this project does not serve
// it, `go install` refuses its tagged versions (their go.mod has replace
// directives), and its current versions depend on Loki, whose AGPL licence
// this project does not take on. dashlint keeps its rule names,
// its strict mode and its exclusion file, so that the dashboards can move to
// the upstream linter unchanged:
//
//	dashlint lint [--strict] DASHBOARD.json...
//
// Every dashboard is checked against the rules in rules.go, which include
// the upstream set (templated data source, job and instance; valid PromQL
// parsed with Prometheus's own parser; $__rate_interval in rate(); counters
// under rate/increase; units, titles and descriptions on panels) plus a
// schema rule: a strict decode into the Grafana Foundation SDK's dashboard
// types, which rejects unknown fields and wrong types.
//
// Exclusions: a file named .lint beside a dashboard, in the upstream format:
//
//	exclusions:
//	  RULE:
//	    reason: why the rule does not apply   # required here
//	    entries:                              # optional; none = everywhere
//	      - dashboard: TITLE                  # each field optional
//	        panel: TITLE
//	        targetIdx: 0
//	warnings:
//	  RULE: {reason: ..., entries: [...]}     # downgraded, fail with --strict
//
// Unlike upstream, an exclusion without a reason, or one that matches no
// finding (stale), is itself an error: exclusions must stay justified.
//
// Exit status: 0 clean; 1 findings (errors, or warnings with --strict); 2 bad
// usage or unreadable input.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

func main() {
	args := os.Args[1:]
	if len(args) == 0 || args[0] != "lint" {
		usage()
	}
	strict := false
	var files []string
	for _, a := range args[1:] {
		switch {
		case a == "--strict":
			strict = true
		case strings.HasPrefix(a, "-"):
			usage()
		default:
			files = append(files, a)
		}
	}
	if len(files) == 0 {
		usage()
	}
	os.Exit(run(files, strict, os.Stdout))
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: dashlint lint [--strict] DASHBOARD.json...")
	os.Exit(2)
}

// run lints the files and prints one line per finding; returns the exit
// status.
func run(files []string, strict bool, out *os.File) int {
	configs := map[string]*Config{} // by directory
	var findings []Finding
	for _, path := range files {
		dir := filepath.Dir(path)
		if _, ok := configs[dir]; !ok {
			cfg, err := LoadConfig(dir)
			if err != nil {
				fmt.Fprintln(os.Stderr, "dashlint:", err)
				return 2
			}
			configs[dir] = cfg
		}
		raw, err := os.ReadFile(path)
		if err != nil {
			fmt.Fprintln(os.Stderr, "dashlint:", err)
			return 2
		}
		var d Dashboard
		if err := json.Unmarshal(raw, &d); err != nil {
			fmt.Fprintf(os.Stderr, "dashlint: %s: not a dashboard: %v\n", path, err)
			return 2
		}
		for _, f := range Lint(&d, raw) {
			f.File = path
			findings = append(findings, configs[dir].Apply(f))
		}
	}
	dirs := make([]string, 0, len(configs))
	for dir := range configs {
		dirs = append(dirs, dir)
	}
	sort.Strings(dirs)
	for _, dir := range dirs {
		findings = append(findings, configs[dir].Problems()...)
	}

	errors, warnings, excluded := 0, 0, 0
	for _, f := range findings {
		switch f.Severity {
		case Error:
			errors++
		case Warning:
			warnings++
		case Excluded:
			excluded++
		}
		fmt.Fprintln(out, f.String())
	}
	fmt.Fprintf(out, "dashlint: %d dashboard(s), %d error(s), %d warning(s), %d excluded\n",
		len(files), errors, warnings, excluded)
	if errors > 0 || (strict && warnings > 0) {
		return 1
	}
	return 0
}
