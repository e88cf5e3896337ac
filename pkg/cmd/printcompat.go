package cmd

import (
	"encoding/json"
	"fmt"
	"io"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"sigs.k8s.io/yaml"
)

// printData prints plain data as json or yaml, for commands not yet on
// outputFlags.
func printData(out io.Writer, format string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	if format == "yaml" {
		if b, err = yaml.JSONToYAML(b); err != nil {
			return err
		}
		_, err = out.Write(b)
		return err
	}
	_, err = fmt.Fprintln(out, string(b))
	return err
}

// printObjects prints one object as is, several as a v1 List, in yaml or
// json, for commands not yet on outputFlags.
func printObjects(out io.Writer, format string, objs []runtime.Object) error {
	printer, err := genericclioptions.NewJSONYamlPrintFlags().ToPrinter(format)
	if err != nil {
		return err
	}
	if len(objs) == 1 {
		return printer.PrintObj(objs[0], out)
	}
	list := &corev1.List{}
	list.APIVersion, list.Kind = "v1", "List"
	for _, obj := range objs {
		list.Items = append(list.Items, runtime.RawExtension{Object: obj})
	}
	return printer.PrintObj(list, out)
}
