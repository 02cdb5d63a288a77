package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"

	"go.yaml.in/yaml/v3"
)

// Severity of a finding, after the exclusion file is applied.
type Severity int

const (
	Excluded Severity = iota
	Warning
	Error
)

func (s Severity) String() string {
	return [...]string{"excluded", "warning", "error"}[s]
}

// Finding is one rule violation. Panel and TargetIdx are empty/-1 when the
// finding is about the whole dashboard or panel.
type Finding struct {
	Rule      string
	Severity  Severity
	File      string
	Dashboard string
	Panel     string
	TargetIdx int
	Message   string
	Reason    string // of the exclusion or warning that matched
}

func (f Finding) String() string {
	where := fmt.Sprintf("dashboard '%s'", f.Dashboard)
	if f.Panel != "" {
		where += fmt.Sprintf(", panel '%s'", f.Panel)
	}
	if f.TargetIdx >= 0 {
		where += fmt.Sprintf(", target idx %d", f.TargetIdx)
	}
	s := fmt.Sprintf("[%s] %s: %s: %s", f.Severity, f.Rule, where, f.Message)
	if f.Reason != "" {
		s += " (" + f.Reason + ")"
	}
	return s
}

// Entry selects findings of a rule; an empty field matches anything.
type Entry struct {
	Dashboard string `yaml:"dashboard"`
	Panel     string `yaml:"panel"`
	TargetIdx *int   `yaml:"targetIdx"`
	matched   bool
}

// RuleEntries are the exclusions (or warnings) of one rule.
type RuleEntries struct {
	Reason  string   `yaml:"reason"`
	Entries []*Entry `yaml:"entries"`
	matched bool
}

// Config is a directory's .lint file.
type Config struct {
	Path       string
	Exclusions map[string]*RuleEntries `yaml:"exclusions"`
	Warnings   map[string]*RuleEntries `yaml:"warnings"`
}

// LoadConfig reads DIR/.lint; a missing file is an empty configuration.
func LoadConfig(dir string) (*Config, error) {
	cfg := &Config{Path: filepath.Join(dir, ".lint")}
	raw, err := os.ReadFile(cfg.Path)
	if errors.Is(err, os.ErrNotExist) {
		return cfg, nil
	}
	if err != nil {
		return nil, err
	}
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(cfg); err != nil && !errors.Is(err, io.EOF) { // EOF: an empty file
		return nil, fmt.Errorf("%s: %w", cfg.Path, err)
	}
	return cfg, nil
}

func (e *Entry) String() string {
	s := fmt.Sprintf("dashboard %q, panel %q", e.Dashboard, e.Panel)
	if e.TargetIdx != nil {
		s += fmt.Sprintf(", targetIdx %d", *e.TargetIdx)
	}
	return s
}

func (e *Entry) matches(f Finding) bool {
	if e.Dashboard != "" && e.Dashboard != f.Dashboard {
		return false
	}
	if e.Panel != "" && e.Panel != f.Panel {
		return false
	}
	if e.TargetIdx != nil && *e.TargetIdx != f.TargetIdx {
		return false
	}
	return true
}

// match reports whether the rule entries cover the finding, and marks what
// matched so that stale entries can be reported.
func (r *RuleEntries) match(f Finding) bool {
	if r == nil {
		return false
	}
	if len(r.Entries) == 0 {
		r.matched = true
		return true
	}
	hit := false
	for _, e := range r.Entries {
		if e.matches(f) {
			e.matched = true
			hit = true
		}
	}
	r.matched = r.matched || hit
	return hit
}

// Apply downgrades a finding that an exclusion or warning covers.
func (c *Config) Apply(f Finding) Finding {
	if r := c.Exclusions[f.Rule]; r.match(f) {
		f.Severity = Excluded
		f.Reason = r.Reason
	} else if r := c.Warnings[f.Rule]; r.match(f) {
		f.Severity = Warning
		f.Reason = r.Reason
	}
	return f
}

// Problems of the configuration itself, once every dashboard was linted:
// unknown rules, exclusions without a reason, and entries that matched
// nothing.
func (c *Config) Problems() []Finding {
	var out []Finding
	report := func(msg string) {
		out = append(out, Finding{Rule: "lint-config", Severity: Error, File: c.Path,
			Dashboard: c.Path, TargetIdx: -1, Message: msg})
	}
	for _, kind := range []struct {
		name  string
		rules map[string]*RuleEntries
	}{{"exclusion", c.Exclusions}, {"warning", c.Warnings}} {
		names := make([]string, 0, len(kind.rules))
		for name := range kind.rules {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			r := kind.rules[name]
			if !KnownRule(name) {
				report(fmt.Sprintf("%s for unknown rule %q", kind.name, name))
				continue
			}
			if r == nil || r.Reason == "" {
				report(fmt.Sprintf("%s of %s has no reason", kind.name, name))
				continue
			}
			if !r.matched {
				report(fmt.Sprintf("%s of %s matches no finding: remove it", kind.name, name))
			}
			for i, e := range r.Entries {
				if !e.matched {
					report(fmt.Sprintf("%s of %s, entry %d (%s), matches no finding: remove it",
						kind.name, name, i, e))
				}
			}
		}
	}
	return out
}
