"""The capture store's statement shapes: few, whatever the batch sizes (SQLite keeps each
prepared statement cached, about 2 KB per row bound)."""

from hypothesis import given
from hypothesis import strategies as st

from appsrc.store.capture import MAX_ROWS_PER_STATEMENT, statement_sizes


@given(st.integers(0, 5000), st.integers(1, 4000))
def test_rows_split_into_powers_of_two_that_add_up(rows, most):
    sizes = statement_sizes(rows, most)
    assert sum(sizes) == rows
    assert all(size & (size - 1) == 0 and 1 <= size <= most for size in sizes)
    assert sizes == sorted(sizes, reverse=True)


def test_any_batch_length_uses_one_of_a_few_statement_sizes():
    shapes = {size for rows in range(1, 2001) for size in statement_sizes(rows, MAX_ROWS_PER_STATEMENT)}
    assert len(shapes) <= MAX_ROWS_PER_STATEMENT.bit_length()
    assert max(shapes) == MAX_ROWS_PER_STATEMENT
