package main

import (
	"encoding/json"
	"fmt"
)

// The parts of a dashboard that the rules read, decoded leniently (the
// schema rule decodes strictly, separately).

type Dashboard struct {
	UID        string `json:"uid"`
	Title      string `json:"title"`
	Templating struct {
		List []Variable `json:"list"`
	} `json:"templating"`
	Panels []Panel `json:"panels"`
}

// DatasourceRef is a data source given as an object {type, uid} or, in old
// dashboards, as a name.
type DatasourceRef struct {
	Type string
	UID  string
	Set  bool
}

func (d *DatasourceRef) UnmarshalJSON(raw []byte) error {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return err
	}
	switch t := v.(type) {
	case nil:
	case string:
		d.UID, d.Set = t, true
	case map[string]any:
		d.Set = true
		d.Type, _ = t["type"].(string)
		d.UID, _ = t["uid"].(string)
	default:
		return fmt.Errorf("datasource: neither a name nor an object: %s", raw)
	}
	return nil
}

type Variable struct {
	Name       string        `json:"name"`
	Label      string        `json:"label"`
	Type       string        `json:"type"`
	Query      VariableQuery `json:"query"`
	Datasource DatasourceRef `json:"datasource"`
	Multi      bool          `json:"multi"`
	IncludeAll bool          `json:"includeAll"`
	AllValue   string        `json:"allValue"`
	Refresh    int           `json:"refresh"`
}

// VariableQuery is a string, or an object whose "query" is the string.
type VariableQuery string

func (q *VariableQuery) UnmarshalJSON(raw []byte) error {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return err
	}
	switch t := v.(type) {
	case nil:
	case string:
		*q = VariableQuery(t)
	case map[string]any:
		s, _ := t["query"].(string)
		*q = VariableQuery(s)
	default:
		return fmt.Errorf("query: neither a string nor an object: %s", raw)
	}
	return nil
}

type Panel struct {
	ID          int           `json:"id"`
	Type        string        `json:"type"`
	Title       string        `json:"title"`
	Description string        `json:"description"`
	Datasource  DatasourceRef `json:"datasource"`
	Targets     []Target      `json:"targets"`
	FieldConfig struct {
		Defaults struct {
			Unit string `json:"unit"`
		} `json:"defaults"`
		Overrides []struct {
			Properties []struct {
				ID    string `json:"id"`
				Value any    `json:"value"`
			} `json:"properties"`
		} `json:"overrides"`
	} `json:"fieldConfig"`
	Panels []Panel `json:"panels"` // a collapsed row's panels
}

type Target struct {
	RefID      string        `json:"refId"`
	Expr       string        `json:"expr"`
	Datasource DatasourceRef `json:"datasource"`
	Hide       bool          `json:"hide"`
}

// AllPanels returns the panels in order, rows' nested panels included.
func (d *Dashboard) AllPanels() []Panel {
	var out []Panel
	var walk func([]Panel)
	walk = func(ps []Panel) {
		for _, p := range ps {
			out = append(out, p)
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	return out
}

func (d *Dashboard) Variable(name string) *Variable {
	for i := range d.Templating.List {
		if d.Templating.List[i].Name == name {
			return &d.Templating.List[i]
		}
	}
	return nil
}

func (d *Dashboard) VariablesOfType(t string) []Variable {
	var out []Variable
	for _, v := range d.Templating.List {
		if v.Type == t {
			out = append(out, v)
		}
	}
	return out
}

// DataPanel reports whether a panel shows query results (rows, text and
// other layout panels do not).
func (p *Panel) DataPanel() bool {
	switch p.Type {
	case "row", "text", "news", "dashlist", "alertlist", "annolist", "welcome":
		return false
	}
	return true
}
