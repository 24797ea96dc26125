//! One decoded value of a silver column, before it becomes part of an Arrow array: records are
//! read one at a time (a record that does not fit leaves nothing behind), then each column's
//! cells are built into one array of the column's type.

use std::borrow::Cow;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, BinaryArray, BooleanArray, Date32Array, Decimal128Array, Float32Array, Float64Array, Int32Array,
    Int64Array, ListArray, MapArray, StringArray, StructArray, TimestampMicrosecondArray,
};
use arrow::buffer::{NullBuffer, OffsetBuffer};
use arrow::error::ArrowError;

use crate::config::ColumnType;
use crate::tables::column_types::{list_item, map_entries, struct_fields};

/// A value as its column's type holds it.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell<'a> {
    Null,
    Bool(bool),
    /// int32 and int64 values, timestamps (microseconds) and dates (days).
    Int(i64),
    Float(f64),
    /// A decimal's unscaled value.
    Decimal(i128),
    Text(Cow<'a, str>),
    Bytes(Vec<u8>),
    List(Vec<Cell<'a>>),
    /// One cell per declared field, in declared order.
    Struct(Vec<Cell<'a>>),
    Map(Vec<(Cell<'a>, Cell<'a>)>),
}

impl Cell<'_> {
    fn is_null(&self) -> bool {
        matches!(self, Cell::Null)
    }

    fn int(&self) -> Option<i64> {
        match self {
            Cell::Int(v) => Some(*v),
            _ => None,
        }
    }
}

/// The array of `ty` holding `cells`. Cells of another kind than the type's (which the
/// decoder never makes) are read as nulls.
pub fn build(ty: &ColumnType, cells: Vec<Cell<'_>>) -> Result<ArrayRef, ArrowError> {
    Ok(match ty {
        ColumnType::String => Arc::new(StringArray::from_iter(cells.iter().map(|c| match c {
            Cell::Text(t) => Some(t.as_ref()),
            _ => None,
        }))),
        ColumnType::Int32 => Arc::new(Int32Array::from_iter(cells.iter().map(|c| c.int().map(|v| v as i32)))),
        ColumnType::Date => Arc::new(Date32Array::from_iter(cells.iter().map(|c| c.int().map(|v| v as i32)))),
        ColumnType::Int64 => Arc::new(Int64Array::from_iter(cells.iter().map(Cell::int))),
        ColumnType::Timestamp => {
            Arc::new(TimestampMicrosecondArray::from_iter(cells.iter().map(Cell::int)).with_timezone("UTC"))
        }
        ColumnType::TimestampNtz => Arc::new(TimestampMicrosecondArray::from_iter(cells.iter().map(Cell::int))),
        ColumnType::Float64 => Arc::new(Float64Array::from_iter(cells.iter().map(float))),
        ColumnType::Float32 => Arc::new(Float32Array::from_iter(
            cells.iter().map(|c| float(c).map(|v| v as f32)),
        )),
        ColumnType::Boolean => Arc::new(BooleanArray::from_iter(cells.iter().map(|c| match c {
            Cell::Bool(b) => Some(*b),
            _ => None,
        }))),
        ColumnType::Binary => Arc::new(BinaryArray::from_iter(cells.iter().map(|c| match c {
            Cell::Bytes(b) => Some(b.as_slice()),
            _ => None,
        }))),
        ColumnType::Decimal { precision, scale } => Arc::new(
            Decimal128Array::from_iter(cells.iter().map(|c| match c {
                Cell::Decimal(v) => Some(*v),
                _ => None,
            }))
            .with_precision_and_scale(*precision, *scale as i8)?,
        ),
        ColumnType::List(item) => list(item, cells)?,
        ColumnType::Map(key, value) => map(key, value, cells)?,
        ColumnType::Struct(fields) => {
            let nulls = nulls(&cells);
            let mut children: Vec<Vec<Cell<'_>>> = fields.iter().map(|_| Vec::with_capacity(cells.len())).collect();
            for cell in cells {
                match cell {
                    Cell::Struct(values) if values.len() == fields.len() => {
                        children.iter_mut().zip(values).for_each(|(child, v)| child.push(v));
                    }
                    _ => children.iter_mut().for_each(|child| child.push(Cell::Null)),
                }
            }
            let arrays = fields
                .iter()
                .zip(children)
                .map(|(f, child)| build(&f.ty, child))
                .collect::<Result<Vec<_>, _>>()?;
            Arc::new(StructArray::try_new(struct_fields(fields), arrays, nulls)?)
        }
    })
}

fn float(cell: &Cell<'_>) -> Option<f64> {
    match cell {
        Cell::Float(v) => Some(*v),
        _ => None,
    }
}

fn nulls(cells: &[Cell<'_>]) -> Option<NullBuffer> {
    cells
        .iter()
        .any(Cell::is_null)
        .then(|| NullBuffer::from_iter(cells.iter().map(|c| !c.is_null())))
}

/// Offsets of lists of `lengths`.
fn offsets(lengths: impl Iterator<Item = usize>) -> Result<OffsetBuffer<i32>, ArrowError> {
    let mut total = 0usize;
    let mut ends = vec![0i32];
    for len in lengths {
        total += len;
        ends.push(i32::try_from(total).map_err(|_| ArrowError::ComputeError("a list column past 2^31 items".into()))?);
    }
    Ok(OffsetBuffer::new(ends.into()))
}

fn list(item: &ColumnType, cells: Vec<Cell<'_>>) -> Result<ArrayRef, ArrowError> {
    let nulls = nulls(&cells);
    let lengths: Vec<usize> = cells
        .iter()
        .map(|c| match c {
            Cell::List(items) => items.len(),
            _ => 0,
        })
        .collect();
    let items: Vec<Cell<'_>> = cells
        .into_iter()
        .flat_map(|c| match c {
            Cell::List(items) => items,
            _ => Vec::new(),
        })
        .collect();
    let values = build(item, items)?;
    let field = Arc::new(list_item(item));
    Ok(Arc::new(ListArray::try_new(
        field,
        offsets(lengths.into_iter())?,
        values,
        nulls,
    )?))
}

fn map(key: &ColumnType, value: &ColumnType, cells: Vec<Cell<'_>>) -> Result<ArrayRef, ArrowError> {
    let nulls = nulls(&cells);
    let lengths: Vec<usize> = cells
        .iter()
        .map(|c| match c {
            Cell::Map(entries) => entries.len(),
            _ => 0,
        })
        .collect();
    let (keys, values): (Vec<_>, Vec<_>) = cells
        .into_iter()
        .flat_map(|c| match c {
            Cell::Map(entries) => entries,
            _ => Vec::new(),
        })
        .unzip();
    let field = map_entries(key, value);
    let arrow::datatypes::DataType::Struct(entry_fields) = field.data_type().clone() else {
        return Err(ArrowError::SchemaError("a map's entries are not a struct".into()));
    };
    let entries = StructArray::try_new(entry_fields, vec![build(key, keys)?, build(value, values)?], None)?;
    Ok(Arc::new(MapArray::try_new(
        Arc::new(field),
        offsets(lengths.into_iter())?,
        entries,
        nulls,
        false,
    )?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tables::column_types::arrow_type;
    use arrow::array::{Array, AsArray};

    #[test]
    fn nested_cells_build_arrays_of_the_declared_type() {
        let ty: ColumnType = "struct<name: string not null, tags: list<string>, m: map<string, int64>>"
            .parse()
            .unwrap();
        let text = |s: &'static str| Cell::Text(Cow::Borrowed(s));
        let cells = vec![
            Cell::Struct(vec![
                text("a"),
                Cell::List(vec![text("x"), text("y")]),
                Cell::Map(vec![(text("k"), Cell::Int(1))]),
            ]),
            Cell::Null,
            Cell::Struct(vec![text("c"), Cell::Null, Cell::Map(vec![])]),
        ];
        let array = build(&ty, cells).unwrap();
        assert_eq!(array.data_type(), &arrow_type(&ty));
        let structs = array.as_struct();
        assert!(structs.is_null(1) && structs.is_valid(2));
        let tags = structs.column(1).as_list::<i32>();
        assert_eq!(
            tags.value(0).as_string::<i32>().iter().flatten().collect::<Vec<_>>(),
            ["x", "y"]
        );
        assert!(tags.is_null(2));
        assert_eq!(structs.column(2).as_map().value_length(0), 1);
    }

    #[test]
    fn decimals_keep_precision_and_scale() {
        let ty = ColumnType::Decimal {
            precision: 10,
            scale: 2,
        };
        let array = build(&ty, vec![Cell::Decimal(12345), Cell::Null]).unwrap();
        let decimals = array.as_primitive::<arrow::datatypes::Decimal128Type>();
        assert_eq!(decimals.value_as_string(0), "123.45");
        assert!(decimals.is_null(1));
    }
}
