package arch

import (
	"fmt"
	"go/ast"
	"go/types"
	"strings"

	"golang.org/x/tools/go/packages"
)

// Casts returns one violation per type assertion or type-switch case in production code (test
// files excluded) that turns a value whose static type is a port (an interface declared in
// ports/) back into a type declared in an adapter (adapters/<name>/...). Code that needs the
// concrete type must be given it (by the fx graph, or by the constructor that made it), not
// recover it from a port: a cast back is a hidden dependency on one adapter that the import
// rule cannot see and that breaks silently when the configuration picks another adapter (or
// a decorator wraps the port).
func (m Module) Casts(pkgs []*packages.Package) []string {
	var out []string
	for _, pkg := range pkgs {
		for _, file := range pkg.Syntax {
			name := pkg.Fset.Position(file.Pos()).Filename
			if strings.HasSuffix(name, "_test.go") {
				continue
			}
			ast.Inspect(file, func(n ast.Node) bool {
				switch n := n.(type) {
				case *ast.TypeAssertExpr:
					if n.Type != nil { // x.(type) is handled with its switch
						out = append(out, m.cast(pkg, n.X, n.Type)...)
					}
				case *ast.TypeSwitchStmt:
					var x ast.Expr
					switch a := n.Assign.(type) {
					case *ast.AssignStmt:
						x = a.Rhs[0].(*ast.TypeAssertExpr).X
					case *ast.ExprStmt:
						x = a.X.(*ast.TypeAssertExpr).X
					}
					for _, c := range n.Body.List {
						for _, t := range c.(*ast.CaseClause).List {
							out = append(out, m.cast(pkg, x, t)...)
						}
					}
				}
				return true
			})
		}
	}
	return out
}

// cast reports the assertion of x to target when x is a port and target an adapter's type.
func (m Module) cast(pkg *packages.Package, x, target ast.Expr) []string {
	from := pkg.TypesInfo.TypeOf(x)
	to := pkg.TypesInfo.TypeOf(target)
	if from == nil || to == nil {
		return nil
	}
	port, ok := types.Unalias(from).(*types.Named)
	if !ok || port.Obj().Pkg() == nil || !types.IsInterface(port) {
		return nil
	}
	if layer, _ := m.Place(port.Obj().Pkg().Path()); layer != Ports {
		return nil
	}
	if p, ok := to.(*types.Pointer); ok {
		to = p.Elem()
	}
	concrete, ok := types.Unalias(to).(*types.Named)
	if !ok || concrete.Obj().Pkg() == nil {
		return nil
	}
	layer, adapter := m.Place(concrete.Obj().Pkg().Path())
	if layer != Adapter {
		return nil
	}
	return []string{fmt.Sprintf("%s: %s cast back to %s (adapter %s): take the concrete type from whoever made it, not from the port",
		pkg.Fset.Position(x.Pos()), types.TypeString(from, nil), types.TypeString(to, nil), adapter)}
}
