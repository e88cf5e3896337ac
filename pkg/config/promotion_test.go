package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestPromotionOrder(t *testing.T) {
	for _, tc := range []struct {
		name, file string
		want       []string
		err        string
	}{
		{name: "file order of environments", file: "environments:\n  dev: {context: d}\n  staging: {context: s}\n  prod: {context: p}\n", want: []string{"dev", "staging", "prod"}},
		{name: "promotion key", file: "environments:\n  dev: {context: d}\n  qa: {context: q}\n  prod: {context: p}\npromotion: [qa, prod]\n", want: []string{"qa", "prod"}},
		{name: "unknown environment", file: "environments:\n  dev: {context: d}\npromotion: [dev, prod]\n", err: `:3: promotion names environment "prod", which environments does not define`},
		{name: "twice", file: "environments:\n  dev: {context: d}\npromotion: [dev, dev]\n", err: `promotion lists environment "dev" twice`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), ".envops.yaml")
			if err := os.WriteFile(path, []byte(tc.file), 0o644); err != nil {
				t.Fatal(err)
			}
			cfg, err := Load(path)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := cfg.PromotionOrder(); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("PromotionOrder() = %v, want %v", got, tc.want)
			}
		})
	}
}
