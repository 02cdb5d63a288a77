package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A small dashboard that passes every rule; each case below breaks one thing
// and expects exactly the rule that guards it to fire.
const good = `{
  "uid": "t", "title": "T", "schemaVersion": 39, "annotations": {"list": []},
  "templating": {"list": [
    {"name": "datasource", "label": "Data source", "type": "datasource", "query": "prometheus",
     "current": {"text": "Prometheus", "value": "prometheus"}},
    {"name": "job", "label": "Job", "type": "query", "refresh": 2, "multi": true,
     "includeAll": true, "allValue": ".+",
     "current": {"text": ["All"], "value": ["$__all"]},
     "datasource": {"type": "prometheus", "uid": "${datasource}"},
     "query": {"query": "label_values(up, job)", "refId": "job"}},
    {"name": "instance", "label": "Instance", "type": "query", "refresh": 2, "multi": true,
     "includeAll": true, "allValue": ".+",
     "current": {"text": ["All"], "value": ["$__all"]},
     "datasource": {"type": "prometheus", "uid": "${datasource}"},
     "query": {"query": "label_values(up{job=~\"$job\"}, instance)", "refId": "instance"}}
  ]},
  "panels": [
    {"id": 1, "type": "timeseries", "title": "Rate", "description": "What and what to do.",
     "datasource": {"type": "prometheus", "uid": "${datasource}"},
     "gridPos": {"h": 8, "w": 12, "x": 0, "y": 0},
     "fieldConfig": {"defaults": {"unit": "cps"}, "overrides": []},
     "targets": [{"refId": "A", "expr":
       "sum by (topic) (rate(x_total{job=~\"$job\", instance=~\"$instance\"}[$__rate_interval]))"}]}
  ]
}`

func lintString(t *testing.T, text string) []Finding {
	t.Helper()
	var d Dashboard
	if err := json.Unmarshal([]byte(text), &d); err != nil {
		t.Fatalf("bad test dashboard: %v", err)
	}
	var out []Finding
	for _, f := range Lint(&d, []byte(text)) {
		if f.Severity != Excluded {
			out = append(out, f)
		}
	}
	return out
}

func TestGoodDashboardIsClean(t *testing.T) {
	if findings := lintString(t, good); len(findings) != 0 {
		t.Fatalf("want no findings, got %v", findings)
	}
}

func TestEachRuleFires(t *testing.T) {
	cases := []struct {
		rule, old, new string
	}{
		{"dashboard-schema-rule", `"schemaVersion": 39`, `"schemaVersion": 39, "bogus": 1`},
		{"template-datasource-rule", `"name": "datasource"`, `"name": "ds"`},
		{"template-job-rule", `"label": "Job"`, `"label": "job"`},
		{"template-instance-rule", `"allValue": ".+",
     "current": {"text": ["All"], "value": ["$__all"]},
     "datasource": {"type": "prometheus", "uid": "${datasource}"},
     "query": {"query": "label_values(up{`, `"allValue": "",
     "current": {"text": ["All"], "value": ["$__all"]},
     "datasource": {"type": "prometheus", "uid": "${datasource}"},
     "query": {"query": "label_values(up{`},
		{"template-label-promql-rule", `label_values(up, job)`, `label_values(up{, job)`},
		{"template-on-time-change-reload", `"name": "job", "label": "Job", "type": "query", "refresh": 2`,
			`"name": "job", "label": "Job", "type": "query", "refresh": 1`},
		{"panel-datasource-rule", `"uid": "${datasource}"},
     "gridPos"`, `"uid": "prom-1"},
     "gridPos"`},
		{"panel-title-description-rule", `"What and what to do."`, `""`},
		{"panel-units-rule", `"unit": "cps"`, `"unit": "events per second"`},
		{"panel-no-targets-rule", `"expr":
       "sum`, `"expr": "", "x": "sum`},
		{"target-promql-rule", `[$__rate_interval]))"`, `[$__rate_interval])"`},
		{"target-promql-rule", `$instance\"}`, `$instanc\"}`},
		{"target-rate-interval-rule", `[$__rate_interval]`, `[5m]`},
		{"target-counter-agg-rule", `rate(x_total{job=~\"$job\", instance=~\"$instance\"}[$__rate_interval])`,
			`x_total{job=~\"$job\", instance=~\"$instance\"}`},
		{"target-job-rule", `job=~\"$job\", instance=~\"$instance\"}[`, `instance=~\"$instance\"}[`},
		{"target-instance-rule", `job=~\"$job\", instance=~\"$instance\"}[`, `job=~\"$job\"}[`},
	}
	for _, c := range cases {
		if !strings.Contains(good, c.old) {
			t.Fatalf("%s: the test dashboard has no %q", c.rule, c.old)
		}
		findings := lintString(t, strings.Replace(good, c.old, c.new, 1))
		fired := map[string]bool{}
		for _, f := range findings {
			fired[f.Rule] = true
		}
		if !fired[c.rule] {
			t.Errorf("%s did not fire on %q -> %q; findings: %v", c.rule, c.old, c.new, findings)
		}
	}
}

func TestExclusionFile(t *testing.T) {
	dir := t.TempDir()
	broken := strings.Replace(good, `[$__rate_interval]`, `[5m]`, 1)
	path := filepath.Join(dir, "d.json")
	if err := os.WriteFile(path, []byte(broken), 0o644); err != nil {
		t.Fatal(err)
	}
	write := func(lint string) {
		if err := os.WriteFile(filepath.Join(dir, ".lint"), []byte(lint), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out, _ := os.Create(filepath.Join(dir, "out"))
	defer out.Close()

	write("")
	if got := run([]string{path}, true, out); got != 1 {
		t.Errorf("no exclusion: exit %d, want 1", got)
	}
	write("exclusions:\n  target-rate-interval-rule:\n    reason: because\n" +
		"    entries:\n      - panel: Rate\n        targetIdx: 0\n")
	if got := run([]string{path}, true, out); got != 0 {
		t.Errorf("matching exclusion: exit %d, want 0", got)
	}
	write("exclusions:\n  target-rate-interval-rule:\n    entries:\n      - panel: Rate\n")
	if got := run([]string{path}, true, out); got != 1 {
		t.Errorf("exclusion without a reason: exit %d, want 1", got)
	}
	write("exclusions:\n  target-rate-interval-rule:\n    reason: because\n" +
		"    entries:\n      - panel: Rate\n      - panel: Other\n")
	if got := run([]string{path}, true, out); got != 1 {
		t.Errorf("stale exclusion entry: exit %d, want 1", got)
	}
	write("warnings:\n  target-rate-interval-rule:\n    reason: because\n")
	if got := run([]string{path}, false, out); got != 0 {
		t.Errorf("warning, not strict: exit %d, want 0", got)
	}
	if got := run([]string{path}, true, out); got != 1 {
		t.Errorf("warning, strict: exit %d, want 1", got)
	}
}
