// k8scheck validates prodopsd's Kubernetes manifests offline, from the Go
// types of the Kubernetes API (k8s.io/api) and of the Prometheus operator
// (monitoring.coreos.com/v1), fetched as Go modules:
//
//	k8scheck schemas DIR    writes strict JSON schemas (unknown fields
//	                        rejected) for kubeconform, as
//	                        DIR/<group>/<kind>_<version>.json (the core
//	                        group is "v1"), for kubeconform's
//	                        -schema-location 'DIR/{{ .Group }}/{{ .ResourceKind }}_{{ .ResourceAPIVersion }}.json'
//	k8scheck decode FILE... decodes every document strictly into its Go type
//	                        (unknown or duplicate fields and bad quantities
//	                        fail)
//
// kubeconform normally downloads its schemas from GitHub, which is not
// reachable here; these schemas are generated from the same API types
// instead. They check structure and types, not which fields are required
// (that needs the OpenAPI "+optional" markers, which are not in the types).
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	yamlutil "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

type kind struct {
	group, version, kind string
	newObject            func() any
}

var kinds = []kind{
	{"", "v1", "ConfigMap", func() any { return &corev1.ConfigMap{} }},
	{"", "v1", "Service", func() any { return &corev1.Service{} }},
	{"", "v1", "ServiceAccount", func() any { return &corev1.ServiceAccount{} }},
	{"apps", "v1", "StatefulSet", func() any { return &appsv1.StatefulSet{} }},
	{"policy", "v1", "PodDisruptionBudget", func() any { return &policyv1.PodDisruptionBudget{} }},
	{"monitoring.coreos.com", "v1", "ServiceMonitor", func() any { return &monitoringv1.ServiceMonitor{} }},
	{"monitoring.coreos.com", "v1", "PodMonitor", func() any { return &monitoringv1.PodMonitor{} }},
}

func apiVersion(k kind) string {
	if k.group == "" {
		return k.version
	}
	return k.group + "/" + k.version
}

// --- schemas ---------------------------------------------------------------

type generator struct {
	defs map[string]any
}

var (
	quantityType    = reflect.TypeOf(resource.Quantity{})
	intOrStringType = reflect.TypeOf(intstr.IntOrString{})
	timeType        = reflect.TypeOf(metav1.Time{})
	microTimeType   = reflect.TypeOf(metav1.MicroTime{})
	durationType    = reflect.TypeOf(metav1.Duration{})
	marshalerType   = reflect.TypeOf((*json.Marshaler)(nil)).Elem()
)

func defName(t reflect.Type) string {
	return strings.NewReplacer("/", ".", "*", "").Replace(t.PkgPath() + "." + t.Name())
}

func (g *generator) schema(t reflect.Type) any {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t {
	case quantityType:
		return map[string]any{"type": []string{"string", "number"}}
	case intOrStringType:
		return map[string]any{"type": []string{"string", "integer"}}
	case timeType, microTimeType, durationType:
		return map[string]any{"type": []string{"string", "null"}}
	}
	if t.Kind() == reflect.Struct && reflect.PointerTo(t).Implements(marshalerType) {
		return map[string]any{} // custom JSON form (e.g. RawExtension): anything
	}
	switch t.Kind() {
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return map[string]any{"type": "integer"}
	case reflect.Float32, reflect.Float64:
		return map[string]any{"type": "number"}
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			return map[string]any{"type": "string"} // base64
		}
		return map[string]any{"type": []string{"array", "null"}, "items": g.schema(t.Elem())}
	case reflect.Map:
		return map[string]any{"type": []string{"object", "null"},
			"additionalProperties": g.schema(t.Elem())}
	case reflect.Interface:
		return map[string]any{}
	case reflect.Struct:
		name := defName(t)
		if _, ok := g.defs[name]; !ok {
			g.defs[name] = nil // recursion guard
			properties := map[string]any{}
			g.fields(t, properties)
			g.defs[name] = map[string]any{"type": "object", "properties": properties,
				"additionalProperties": false}
		}
		return map[string]any{"$ref": "#/definitions/" + name}
	}
	panic(fmt.Sprintf("no schema for %s (%s)", t, t.Kind()))
}

func (g *generator) fields(t reflect.Type, properties map[string]any) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" || (!f.IsExported() && !f.Anonymous) {
			continue
		}
		if (f.Anonymous && name == "") || strings.Contains(","+opts+",", ",inline,") {
			ft := f.Type
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				g.fields(ft, properties)
				continue
			}
		}
		if name == "" {
			name = f.Name
		}
		properties[name] = g.schema(f.Type)
	}
}

func writeSchemas(dir string) error {
	for _, k := range kinds {
		g := &generator{defs: map[string]any{}}
		root := g.schema(reflect.TypeOf(k.newObject()))
		ref := root.(map[string]any)["$ref"].(string)
		top := g.defs[strings.TrimPrefix(ref, "#/definitions/")].(map[string]any)
		props := top["properties"].(map[string]any)
		props["apiVersion"] = map[string]any{"const": apiVersion(k)}
		props["kind"] = map[string]any{"const": k.kind}
		schema := map[string]any{
			"$schema":              "http://json-schema.org/draft-07/schema#",
			"description":          fmt.Sprintf("%s %s, generated by tests/deploy/k8scheck", apiVersion(k), k.kind),
			"type":                 "object",
			"properties":           props,
			"required":             []string{"apiVersion", "kind", "metadata"},
			"additionalProperties": false,
			"definitions":          g.defs,
		}
		data, err := json.MarshalIndent(schema, "", " ")
		if err != nil {
			return err
		}
		// kubeconform's {{ .Group }} is the version for the core group ("v1").
		group := k.group
		if group == "" {
			group = k.version
		}
		path := filepath.Join(dir, group, strings.ToLower(k.kind)+"_"+k.version+".json")
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(path, data, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// --- strict decoding -------------------------------------------------------

func decodeFile(path string) (int, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	reader := yamlutil.NewYAMLReader(bufioReader(data))
	count := 0
	for {
		doc, err := reader.Read()
		if err == io.EOF {
			return count, nil
		}
		if err != nil {
			return count, err
		}
		if len(bytes.TrimSpace(doc)) == 0 || isComment(doc) {
			continue
		}
		var head struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
		}
		if err := yaml.Unmarshal(doc, &head); err != nil {
			return count, fmt.Errorf("document %d: %w", count+1, err)
		}
		var found *kind
		for i := range kinds {
			if apiVersion(kinds[i]) == head.APIVersion && kinds[i].kind == head.Kind {
				found = &kinds[i]
			}
		}
		if found == nil {
			return count, fmt.Errorf("document %d: %s %s is not a kind k8scheck knows", count+1,
				head.APIVersion, head.Kind)
		}
		obj := found.newObject()
		if err := yaml.UnmarshalStrict(doc, obj); err != nil {
			return count, fmt.Errorf("%s %s: %w", head.Kind, nameOf(obj), err)
		}
		count++
	}
}

func isComment(doc []byte) bool {
	for _, line := range strings.Split(string(doc), "\n") {
		line = strings.TrimSpace(line)
		if line != "" && !strings.HasPrefix(line, "#") {
			return false
		}
	}
	return true
}

func nameOf(obj any) string {
	if o, ok := obj.(metav1.Object); ok {
		return o.GetName()
	}
	return "?"
}

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: k8scheck schemas DIR | k8scheck decode FILE...")
		os.Exit(2)
	}
	switch os.Args[1] {
	case "schemas":
		if err := writeSchemas(os.Args[2]); err != nil {
			fmt.Fprintln(os.Stderr, "k8scheck:", err)
			os.Exit(1)
		}
	case "decode":
		failed := false
		for _, path := range os.Args[2:] {
			n, err := decodeFile(path)
			if err != nil {
				fmt.Fprintf(os.Stderr, "FAIL %s: %v\n", path, err)
				failed = true
				continue
			}
			fmt.Printf("ok %s: %d objects decoded strictly\n", path, n)
		}
		if failed {
			os.Exit(1)
		}
	default:
		fmt.Fprintln(os.Stderr, "usage: k8scheck schemas DIR | k8scheck decode FILE...")
		os.Exit(2)
	}
}
