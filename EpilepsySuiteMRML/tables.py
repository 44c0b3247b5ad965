"""Table nodes from records (list of dicts) and back."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import vtk


def table_node_from_records(
    scene, name: str, records: Sequence[Mapping[str, object]], columns: Sequence[str] | None = None, node=None
):
    """A ``vtkMRMLTableNode`` with one row per record; numbers become numeric columns.

    ``columns`` fixes the column order (default: the keys of the first record). Passing ``node``
    replaces the content of an existing table node.
    """
    columns = list(columns if columns is not None else (records[0].keys() if records else []))
    if node is None:
        node = scene.AddNewNodeByClass("vtkMRMLTableNode", name)
    table = vtk.vtkTable()
    for column in columns:
        values = [record.get(column) for record in records]
        if (
            values
            and all(isinstance(value, bool) for value in values)
            or values
            and all(isinstance(value, int) and not isinstance(value, bool) for value in values)
        ):
            array = vtk.vtkIntArray()
        elif values and all(isinstance(value, (int, float)) and not isinstance(value, bool) for value in values):
            array = vtk.vtkDoubleArray()
        else:
            array = vtk.vtkStringArray()
        array.SetName(column)
        for value in values:
            if isinstance(array, vtk.vtkStringArray):
                array.InsertNextValue("" if value is None else str(value))
            else:
                array.InsertNextValue(value)
        table.AddColumn(array)
    node.SetAndObserveTable(table)
    return node


def records_from_table_node(node) -> list[dict[str, object]]:
    """The rows of a table node as dicts (numeric columns stay numbers)."""
    table = node.GetTable()
    names = [table.GetColumnName(index) for index in range(table.GetNumberOfColumns())]
    rows = []
    for row in range(table.GetNumberOfRows()):
        record = {}
        for index, name in enumerate(names):
            column = table.GetColumn(index)
            record[name] = column.GetValue(row)
        rows.append(record)
    return rows
