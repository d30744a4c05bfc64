package route

import (
	"fmt"
	"slices"

	"github.com/kafka2pg/kafka2pg/config"
	"github.com/kafka2pg/kafka2pg/internal/transform/expr"
)

// Programs are a route's compiled expressions; nil fields are not set.
// Programs are safe for concurrent use.
type Programs struct {
	Filter  *expr.Program
	Columns []Column // by column name
	Each    *expr.Program
	Table   *expr.Program
}

// Column is one computed column.
type Column struct {
	Name string
	P    *expr.Program
}

// Compile compiles and type-checks every route's expressions, before
// anything connects. Every problem is returned at once in a
// *config.ValidationError naming the route key and the position in the
// expression. The result has one entry per route (nil for a route without
// expressions).
func Compile(cfg *config.Config) ([]*Programs, error) {
	env, err := expr.NewEnv()
	if err != nil {
		return nil, fmt.Errorf("the expression environment: %w", err)
	}
	out := make([]*Programs, len(cfg.Routes))
	var problems []config.Problem
	for i := range cfg.Routes {
		rc := &cfg.Routes[i]
		if !rc.Computed() {
			continue
		}
		p := &Programs{}
		rp := fmt.Sprintf("routes[%d]", i)
		compile := func(path, src string, kind expr.Kind) *expr.Program {
			if src == "" {
				return nil
			}
			prg, err := env.Compile(src, kind)
			if err != nil {
				problems = append(problems, cfg.Problem(path, "%v", err))
				return nil
			}
			return prg
		}
		p.Filter = compile(rp+".filter", rc.Filter, expr.Bool)
		p.Each = compile(rp+".each", rc.Each, expr.List)
		p.Table = compile(rp+".table_expr", rc.TableExpr, expr.String)
		for name, src := range rc.Columns {
			if prg := compile(rp+".columns."+name, src, expr.Value); prg != nil {
				p.Columns = append(p.Columns, Column{Name: name, P: prg})
			}
		}
		slices.SortFunc(p.Columns, func(a, b Column) int {
			if a.Name < b.Name {
				return -1
			}
			if a.Name > b.Name {
				return 1
			}
			return 0
		})
		out[i] = p
	}
	if len(problems) > 0 {
		return nil, &config.ValidationError{Problems: problems}
	}
	return out, nil
}
