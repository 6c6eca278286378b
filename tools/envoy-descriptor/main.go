// Command envoy-descriptor writes the compact Envoy API descriptor check-envoy ships
// (src/envoy-check/envoy-api.json): every message and enum of the Envoy v3 API as registered by
// the generated code of github.com/envoyproxy/go-control-plane/envoy (versioned with Envoy), with
// the protoc-gen-validate rules Envoy enforces when it loads a config.
//
// Usage: go run . -envoy-version 1.40.0 > ../../src/envoy-check/envoy-api.json
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"regexp"
	"runtime/debug"
	"sort"
	"strings"

	"github.com/envoyproxy/go-control-plane/envoy/annotations"
	"github.com/envoyproxy/protoc-gen-validate/validate"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
)

const module = "github.com/envoyproxy/go-control-plane/envoy"

// Field mirrors FieldDesc in src/envoy-check/descriptor-types.ts.
type Field struct {
	T string          `json:"t"`
	J string          `json:"j,omitempty"`
	R int             `json:"r,omitempty"`
	K string          `json:"k,omitempty"`
	O string          `json:"o,omitempty"`
	V json.RawMessage `json:"v,omitempty"`
	X int             `json:"x,omitempty"`
	P int             `json:"p,omitempty"`
}

// Message mirrors MessageDesc.
type Message struct {
	F  map[string]Field `json:"f"`
	RO []string         `json:"ro,omitempty"`
}

// Enum mirrors EnumDesc.
type Enum struct {
	V map[string]int32 `json:"v"`
	X []string         `json:"x,omitempty"`
}

var camel = regexp.MustCompile(`_([a-z0-9])`)

// lowerCamel is lowerCamel() in src/envoy-check/descriptor-types.ts.
func lowerCamel(name string) string {
	return camel.ReplaceAllStringFunc(name, func(m string) string { return strings.ToUpper(m[1:]) })
}

var rulesJSON = protojson.MarshalOptions{UseProtoNames: true}

func typeName(f protoreflect.FieldDescriptor) string {
	switch f.Kind() {
	case protoreflect.MessageKind, protoreflect.GroupKind:
		return string(f.Message().FullName())
	case protoreflect.EnumKind:
		return string(f.Enum().FullName())
	default:
		return f.Kind().String()
	}
}

func field(f protoreflect.FieldDescriptor) Field {
	out := Field{T: typeName(f)}
	if f.IsMap() {
		out.K = f.MapKey().Kind().String()
		out.T = typeName(f.MapValue())
	} else if f.IsList() {
		out.R = 1
	}
	// Only where protoc's lowerCamel rule (which the reader applies itself) does not give it.
	if f.JSONName() != lowerCamel(string(f.Name())) {
		out.J = f.JSONName()
	}
	if o := f.ContainingOneof(); o != nil && !o.IsSynthetic() {
		out.O = string(o.Name())
	} else if f.HasPresence() && f.Message() == nil {
		// proto3 `optional`: validate rules apply only when the field is set.
		out.P = 1
	}
	opts, _ := f.Options().(*descriptorpb.FieldOptions)
	if opts != nil {
		if rules, ok := proto.GetExtension(opts, validate.E_Rules).(*validate.FieldRules); ok && rules != nil {
			b, err := rulesJSON.Marshal(rules)
			if err != nil {
				panic(err)
			}
			// protojson output is deliberately unstable in spacing; compact it.
			var buf bytes.Buffer
			if err := json.Compact(&buf, b); err != nil {
				panic(err)
			}
			out.V = buf.Bytes()
		}
		// Deprecated fields Envoy refuses unless a runtime flag re-enables them.
		if opts.GetDeprecated() && proto.GetExtension(opts, annotations.E_DisallowedByDefault).(bool) {
			out.X = 1
		}
	}
	return out
}

func collect(md protoreflect.MessageDescriptors, ed protoreflect.EnumDescriptors, msgs map[string]Message, enums map[string]Enum) {
	for i := 0; i < ed.Len(); i++ {
		e := ed.Get(i)
		out := Enum{V: map[string]int32{}}
		for j := 0; j < e.Values().Len(); j++ {
			v := e.Values().Get(j)
			out.V[string(v.Name())] = int32(v.Number())
			if opts, ok := v.Options().(*descriptorpb.EnumValueOptions); ok && opts != nil &&
				opts.GetDeprecated() && proto.GetExtension(opts, annotations.E_DisallowedByDefaultEnum).(bool) {
				out.X = append(out.X, string(v.Name()))
			}
		}
		enums[string(e.FullName())] = out
	}
	for i := 0; i < md.Len(); i++ {
		m := md.Get(i)
		if m.IsMapEntry() {
			continue
		}
		out := Message{F: map[string]Field{}}
		for j := 0; j < m.Fields().Len(); j++ {
			f := m.Fields().Get(j)
			out.F[string(f.Name())] = field(f)
		}
		for j := 0; j < m.Oneofs().Len(); j++ {
			o := m.Oneofs().Get(j)
			if opts, ok := o.Options().(*descriptorpb.OneofOptions); ok && opts != nil &&
				proto.GetExtension(opts, validate.E_Required).(bool) {
				out.RO = append(out.RO, string(o.Name()))
			}
		}
		msgs[string(m.FullName())] = out
		collect(m.Messages(), m.Enums(), msgs, enums)
	}
}

func moduleVersion() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return ""
	}
	for _, dep := range info.Deps {
		if dep.Path == module {
			return dep.Version
		}
	}
	return ""
}

// writeSorted writes one entry per line, so a regenerated file diffs by type.
func writeSorted[T any](w *bytes.Buffer, name string, entries map[string]T, last bool) {
	keys := make([]string, 0, len(entries))
	for k := range entries {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	fmt.Fprintf(w, "%q:{\n", name)
	for i, k := range keys {
		b, err := json.Marshal(entries[k])
		if err != nil {
			panic(err)
		}
		sep := ","
		if i == len(keys)-1 {
			sep = ""
		}
		fmt.Fprintf(w, "%q:%s%s\n", k, b, sep)
	}
	if last {
		w.WriteString("}\n")
	} else {
		w.WriteString("},\n")
	}
}

func main() {
	envoyVersion := flag.String("envoy-version", "", "the Envoy version the project pins (envoy/VERSION)")
	flag.Parse()
	version := moduleVersion()
	if *envoyVersion == "" || version != "v"+*envoyVersion {
		fmt.Fprintf(os.Stderr, "envoy-descriptor: go.mod pins %s %s, but -envoy-version is %q: run `go get %s@v%s` first\n",
			module, version, *envoyVersion, module, *envoyVersion)
		os.Exit(1)
	}
	msgs := map[string]Message{}
	enums := map[string]Enum{}
	protoregistry.GlobalFiles.RangeFiles(func(fd protoreflect.FileDescriptor) bool {
		path := fd.Path()
		// The descriptor and validate protos describe options, never config.
		if path == "google/protobuf/descriptor.proto" || strings.HasPrefix(path, "validate/") {
			return true
		}
		collect(fd.Messages(), fd.Enums(), msgs, enums)
		return true
	})
	var w bytes.Buffer
	api, _ := json.Marshal(map[string]string{"envoy": *envoyVersion, "source": module + "@" + version})
	fmt.Fprintf(&w, "{\"api\":%s,\n", api)
	writeSorted(&w, "messages", msgs, false)
	writeSorted(&w, "enums", enums, true)
	w.WriteString("}\n")
	os.Stdout.Write(w.Bytes())
	fmt.Fprintf(os.Stderr, "envoy-descriptor: %d messages, %d enums from %s@%s\n", len(msgs), len(enums), module, version)
}
