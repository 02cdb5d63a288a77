package main

import (
	"fmt"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/plugins"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
)

// The rules, by the names dashboard-linter gives them (plus
// dashboard-schema-rule, which it does not have).
var ruleNames = []string{
	"dashboard-schema-rule",
	"template-datasource-rule",
	"template-job-rule",
	"template-instance-rule",
	"template-label-promql-rule",
	"template-on-time-change-reload",
	"panel-datasource-rule",
	"panel-title-description-rule",
	"panel-units-rule",
	"panel-no-targets-rule",
	"target-promql-rule",
	"target-rate-interval-rule",
	"target-counter-agg-rule",
	"target-job-rule",
	"target-instance-rule",
}

func KnownRule(name string) bool {
	for _, n := range ruleNames {
		if n == name {
			return true
		}
	}
	return false
}

// Grafana's unit ids (packages/grafana-data/src/valueFormats/categories.ts).
var validUnits = map[string]bool{}

func init() {
	for _, u := range strings.Fields(`
		none string short percent percentunit humidity dB hex0x hex sci locale pixel
		accMS2 accFS2 accG degree radian grad arcmin arcsec areaM2 areaF2 areaMI2
		flops mflops gflops tflops pflops eflops zflops yflops
		ppm conppb conngm3 conngNm3 conμgm3 conμgNm3 conmgm3 conmgNm3 congm3 congNm3 conmgdL conmmolL
		currencyUSD currencyGBP currencyEUR currencyJPY
		bytes decbytes bits decbits kbytes deckbytes mbytes decmbytes gbytes decgbytes tbytes dectbytes pbytes decpbytes
		pps binBps Bps binbps bps KiBs Kibits KBs Kbits MiBs Mibits MBs Mbits GiBs Gibits GBs Gbits TiBs Tibits TBs Tbits
		dateTimeAsIso dateTimeAsIsoNoDateIfToday dateTimeAsUS dateTimeAsUSNoDateIfToday dateTimeAsLocal
		dateTimeAsLocalNoDateIfToday dateTimeAsSystem dateTimeFromNow
		hertz ns µs ms s m h d dtdurationms dtdurations dthms dtdhms timeticks clockms clocks
		cps ops reqps rps wps iops cpm opm rpm wpm
		bool bool_yes_no bool_on_off`) {
		validUnits[u] = true
	}
}

// Durations that stand for Grafana's interval variables while parsing, so
// that a rule can tell which variable a range came from.
const (
	rateIntervalStandIn = 8869 * time.Hour
	intervalStandIn     = 8868 * time.Hour
	rangeStandIn        = 8867 * time.Hour
)

var globalVariables = map[string]string{
	"__rate_interval": "8869h",
	"__interval":      "8868h",
	"__range":         "8867h",
	"__interval_ms":   "31924800000",
	"__range_ms":      "31921200000",
	"__range_s":       "31921200",
}

var variableRef = regexp.MustCompile(`\$\{(\w+)(?::[^}]*)?\}|\$(\w+)|\[\[(\w+)(?::[^\]]*)?\]\]`)
var digits = regexp.MustCompile(`^[0-9]+$`)

// variableStandIn is what a dashboard variable becomes while parsing: a name
// that is valid as a label value and as an identifier, and that the
// required-matcher rules can recognise.
func variableStandIn(name string) string { return "__var_" + name + "__" }

// expand replaces the variables of a query so that it can be parsed.
func expand(expr string, d *Dashboard) (string, error) {
	var unknown []string
	out := variableRef.ReplaceAllStringFunc(expr, func(ref string) string {
		m := variableRef.FindStringSubmatch(ref)
		name := m[1] + m[2] + m[3]
		if v, ok := globalVariables[name]; ok {
			return v
		}
		if d.Variable(name) != nil {
			return variableStandIn(name)
		}
		if digits.MatchString(name) {
			return ref // a regex group in label_replace, not a variable
		}
		unknown = append(unknown, "$"+name)
		return ref
	})
	if len(unknown) > 0 {
		return "", fmt.Errorf("unknown variable(s) %s", strings.Join(unknown, ", "))
	}
	return out, nil
}

var promql = parser.NewParser(parser.Options{})

func parseQuery(expr string, d *Dashboard) (parser.Expr, error) {
	expanded, err := expand(expr, d)
	if err != nil {
		return nil, err
	}
	return promql.ParseExpr(expanded)
}

type linter struct {
	d        *Dashboard
	findings []Finding
}

func (l *linter) add(rule string, sev Severity, panel string, target int, format string,
	args ...any) {
	l.findings = append(l.findings, Finding{Rule: rule, Severity: sev, Dashboard: l.d.Title,
		Panel: panel, TargetIdx: target, Message: fmt.Sprintf(format, args...)})
}

func (l *linter) dashboardError(rule, format string, args ...any) {
	l.add(rule, Error, "", -1, format, args...)
}

func (l *linter) panelError(rule string, p *Panel, format string, args ...any) {
	l.add(rule, Error, p.Title, -1, format, args...)
}

func (l *linter) targetError(rule string, p *Panel, idx int, format string, args ...any) {
	l.add(rule, Error, p.Title, idx, format, args...)
}

var registerPlugins sync.Once

// Lint applies every rule to a dashboard (raw is its JSON, for the schema).
func Lint(d *Dashboard, raw []byte) []Finding {
	l := &linter{d: d}
	l.schema(raw)
	l.templateDatasource()
	prometheusDashboard := false
	if ds := d.VariablesOfType("datasource"); len(ds) > 0 && string(ds[0].Query) == "prometheus" {
		prometheusDashboard = true
	}
	if prometheusDashboard {
		l.templateRequired("job")
		l.templateRequired("instance")
		l.templateLabelQueries()
	}
	l.templateReload()
	for _, p := range d.AllPanels() {
		l.panel(&p, prometheusDashboard)
	}
	return l.findings
}

func (l *linter) schema(raw []byte) {
	registerPlugins.Do(plugins.RegisterDefaultPlugins)
	var strict dashboard.Dashboard
	err := strict.UnmarshalJSONStrict(raw)
	// The SDK returns its error list typed, and empty when all is well.
	if errs, ok := err.(cog.BuildErrors); ok {
		for _, e := range errs {
			l.dashboardError("dashboard-schema-rule", "%s", e.Error())
		}
	} else if err != nil {
		l.dashboardError("dashboard-schema-rule", "%v", err)
	}
}

func (l *linter) templateDatasource() {
	const rule = "template-datasource-rule"
	ds := l.d.VariablesOfType("datasource")
	if len(ds) == 0 {
		l.dashboardError(rule, "has no templated data source")
		return
	}
	for _, v := range ds {
		kind := string(v.Query)
		names := map[string]bool{strings.ToLower(kind) + "_datasource": true}
		labels := map[string]bool{strings.ToUpper(kind[:1]) + kind[1:] + " data source": true}
		if len(ds) == 1 {
			names["datasource"] = true
			labels["Data source"] = true
		}
		if !names[v.Name] {
			l.dashboardError(rule, "data source variable is named '%s', should be one of %v",
				v.Name, keys(names))
		}
		if !labels[v.Label] {
			l.add(rule, Warning, "", -1, "data source variable is labeled '%s', should be one of %v",
				v.Label, keys(labels))
		}
	}
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func usesTemplatedDatasource(d *Dashboard, ref DatasourceRef) bool {
	for _, v := range d.VariablesOfType("datasource") {
		if ref.UID == "$"+v.Name || ref.UID == "${"+v.Name+"}" {
			return true
		}
	}
	return false
}

// templateRequired checks the job or instance variable.
func (l *linter) templateRequired(name string) {
	rule := "template-" + name + "-rule"
	v := l.d.Variable(name)
	if v == nil {
		l.dashboardError(rule, "is missing the %s template", name)
		return
	}
	if !usesTemplatedDatasource(l.d, v.Datasource) {
		l.dashboardError(rule, "%s template should use the templated data source, uses '%s'", name,
			v.Datasource.UID)
	}
	if v.Type != "query" {
		l.dashboardError(rule, "%s template should be a Prometheus query, is '%s'", name, v.Type)
	}
	if want := strings.ToUpper(name[:1]) + name[1:]; v.Label != want {
		l.dashboardError(rule, "%s template should be labeled '%s', is '%s'", name, want, v.Label)
	}
	if !v.Multi {
		l.dashboardError(rule, "%s template should be a multi select", name)
	}
	if v.AllValue != ".+" {
		l.dashboardError(rule, "%s template allValue should be '.+', is '%s'", name, v.AllValue)
	}
}

var labelQuery = regexp.MustCompile(`^\s*(\w+)\((.*)\)\s*$`)
var labelName = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)

func (l *linter) templateLabelQueries() {
	const rule = "template-label-promql-rule"
	for _, v := range l.d.VariablesOfType("query") {
		query := string(v.Query)
		m := labelQuery.FindStringSubmatch(query)
		if m == nil {
			l.dashboardError(rule, "template '%s': invalid query '%s'", v.Name, query)
			continue
		}
		arg := strings.TrimSpace(m[2])
		var err error
		switch m[1] {
		case "label_names":
			if arg != "" {
				_, err = parseSelector(arg, l.d)
			}
		case "label_values":
			selector, label := "", arg
			if i := strings.LastIndex(arg, ","); i >= 0 {
				selector, label = strings.TrimSpace(arg[:i]), strings.TrimSpace(arg[i+1:])
			}
			if !labelName.MatchString(label) {
				err = fmt.Errorf("'%s' is not a label name", label)
			} else if selector != "" {
				_, err = parseSelector(selector, l.d)
			}
		case "metrics":
			_, err = regexp.Compile(arg)
		case "query_result":
			_, err = parseQuery(arg, l.d)
		default:
			err = fmt.Errorf("'%s' is not a Prometheus variable function", m[1])
		}
		if err != nil {
			l.dashboardError(rule, "template '%s': invalid query '%s': %v", v.Name, query, err)
		}
	}
}

func parseSelector(s string, d *Dashboard) ([]*labels.Matcher, error) {
	expanded, err := expand(s, d)
	if err != nil {
		return nil, err
	}
	return promql.ParseMetricSelector(expanded)
}

func (l *linter) templateReload() {
	for _, v := range l.d.VariablesOfType("query") {
		if v.Refresh != 2 {
			l.dashboardError("template-on-time-change-reload",
				"template '%s' should refresh on time range change (2), is %d", v.Name, v.Refresh)
		}
	}
}

func (l *linter) panel(p *Panel, prometheusDashboard bool) {
	if p.Title == "" {
		l.panelError("panel-title-description-rule", p, "panel %d has no title", p.ID)
	}
	if !p.DataPanel() {
		return
	}
	if strings.TrimSpace(p.Description) == "" {
		l.panelError("panel-title-description-rule", p, "has no description")
	}
	l.units(p)
	if !usesTemplatedDatasource(l.d, p.Datasource) {
		l.panelError("panel-datasource-rule", p, "does not use the templated data source, uses '%s'",
			p.Datasource.UID)
	}
	queries := 0
	for i, t := range p.Targets {
		if t.Datasource.Set && !usesTemplatedDatasource(l.d, t.Datasource) {
			l.targetError("panel-datasource-rule", p, i,
				"target does not use the templated data source, uses '%s'", t.Datasource.UID)
		}
		if strings.TrimSpace(t.Expr) == "" {
			continue
		}
		queries++
		if prometheusDashboard {
			l.target(p, i, t)
		}
	}
	if queries == 0 {
		l.panelError("panel-no-targets-rule", p, "has no query")
	}
}

func (l *linter) units(p *Panel) {
	const rule = "panel-units-rule"
	unit := p.FieldConfig.Defaults.Unit
	if unit == "" {
		l.panelError(rule, p, "has no unit")
	} else if !validUnits[unit] {
		l.panelError(rule, p, "has an unknown unit '%s'", unit)
	}
	for _, o := range p.FieldConfig.Overrides {
		for _, prop := range o.Properties {
			if prop.ID != "unit" {
				continue
			}
			if u, _ := prop.Value.(string); !validUnits[u] {
				l.panelError(rule, p, "has an override with an unknown unit '%v'", prop.Value)
			}
		}
	}
}

func (l *linter) target(p *Panel, idx int, t Target) {
	expr, err := parseQuery(t.Expr, l.d)
	if err != nil {
		l.targetError("target-promql-rule", p, idx, "invalid PromQL '%s': %v", t.Expr, err)
		return
	}
	l.rateInterval(p, idx, t, expr)
	l.counterAggregation(p, idx, expr)
	for _, name := range []string{"job", "instance"} {
		l.requiredMatcher(p, idx, expr, name)
	}
}

func (l *linter) rateInterval(p *Panel, idx int, t Target, expr parser.Expr) {
	parser.Inspect(expr, func(node parser.Node, path []parser.Node) error {
		m, ok := node.(*parser.MatrixSelector)
		if !ok || m.Range == rateIntervalStandIn || len(path) == 0 {
			return nil
		}
		if call, ok := path[len(path)-1].(*parser.Call); ok &&
			(call.Func.Name == "rate" || call.Func.Name == "irate") {
			l.targetError("target-rate-interval-rule", p, idx,
				"%s() over %s: should use $__rate_interval", call.Func.Name,
				rangeName(m.Range))
		}
		return nil
	})
}

func rangeName(d time.Duration) string {
	switch d {
	case intervalStandIn:
		return "$__interval"
	case rangeStandIn:
		return "$__range"
	}
	return d.String()
}

func (l *linter) counterAggregation(p *Panel, idx int, expr parser.Expr) {
	parser.Inspect(expr, func(node parser.Node, path []parser.Node) error {
		v, ok := node.(*parser.VectorSelector)
		if !ok || !strings.HasSuffix(v.Name, "_total") {
			return nil
		}
		n := len(path)
		if n >= 2 {
			if _, ranged := path[n-1].(*parser.MatrixSelector); ranged {
				if call, ok := path[n-2].(*parser.Call); ok {
					switch call.Func.Name {
					case "rate", "irate", "increase":
						return nil
					}
				}
			}
		}
		l.targetError("target-counter-agg-rule", p, idx,
			"counter %s is not under rate(), irate() or increase()", v.Name)
		return nil
	})
}

func (l *linter) requiredMatcher(p *Panel, idx int, expr parser.Expr, name string) {
	want := variableStandIn(name)
	for _, selector := range parser.ExtractSelectors(expr) {
		found := false
		for _, m := range selector {
			if m.Name == name && m.Type == labels.MatchRegexp && m.Value == want {
				found = true
			}
		}
		if !found {
			l.targetError("target-"+name+"-rule", p, idx, "a selector lacks %s=~\"$%s\": %v",
				name, name, selector)
			return
		}
	}
}
