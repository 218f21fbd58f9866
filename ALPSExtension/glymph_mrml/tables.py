"""Result rows to and from table nodes (one column per key, typed from the first row's values)."""

from __future__ import annotations

import vtk


def table_from_rows(rows: list[dict[str, object]], scene, name: str, node=None, columns: list[str] | None = None):
    """Fill a ``vtkMRMLTableNode`` with ``rows`` (all rows share the first row's keys, or ``columns``).

    With no rows the table keeps ``columns`` (as text columns) and has no row.
    """
    if node is None:
        node = scene.AddNewNodeByClass("vtkMRMLTableNode", name)
    table = vtk.vtkTable()
    columns = list(columns) if columns else (list(rows[0]) if rows else [])
    for key in columns:
        value = rows[0][key] if rows else ""
        if isinstance(value, bool):
            column = vtk.vtkStringArray()
        elif isinstance(value, int):
            column = vtk.vtkIntArray()
        elif isinstance(value, float):
            column = vtk.vtkDoubleArray()
        else:
            column = vtk.vtkStringArray()
        column.SetName(key)
        for row in rows:
            v = row[key]
            if isinstance(column, vtk.vtkStringArray):
                column.InsertNextValue("" if v is None else str(v))
            else:
                column.InsertNextValue(float("nan") if v is None else v)
        table.AddColumn(column)
    node.SetAndObserveTable(table)
    node.SetLocked(True)  # results: not meant to be edited by hand
    return node


def rows_from_table(node) -> list[dict[str, object]]:
    """The rows of a table node as dicts (numbers as Python numbers, the rest as strings)."""
    table = node.GetTable()
    rows = []
    for r in range(table.GetNumberOfRows()):
        row = {}
        for c in range(table.GetNumberOfColumns()):
            column = table.GetColumn(c)
            value = column.GetValue(r)
            row[column.GetName()] = value
        rows.append(row)
    return rows
