//! Safe wrapper around `matrixmultiply::sgemm` with strided operands. Every convolution of the
//! segmentation network is one call here: with time-major activations a kernel's receptive
//! field is a contiguous run of memory, so the input needs no im2col copy, only a row stride.

/// A read-only matrix view: element (i, j) is `data[i * rs + j * cs]`.
#[derive(Clone, Copy)]
pub struct View<'a> {
    pub data: &'a [f32],
    pub rows: usize,
    pub cols: usize,
    pub rs: usize,
    pub cs: usize,
}

impl<'a> View<'a> {
    /// A row-major `rows × cols` matrix.
    pub fn rows(data: &'a [f32], rows: usize, cols: usize) -> Self {
        View {
            data,
            rows,
            cols,
            rs: cols,
            cs: 1,
        }
    }

    /// The transpose of a row-major `rows × cols` matrix (a PyTorch `Linear` weight read as
    /// `in × out`).
    pub fn transposed(data: &'a [f32], rows: usize, cols: usize) -> Self {
        View {
            data,
            rows: cols,
            cols: rows,
            rs: 1,
            cs: cols,
        }
    }

    fn check(&self) {
        if self.rows > 0 && self.cols > 0 {
            let last = (self.rows - 1) * self.rs + (self.cols - 1) * self.cs;
            assert!(last < self.data.len(), "matrix view out of bounds");
        }
    }
}

/// `c = a · b + beta · c`, with `c` row-major `a.rows × b.cols`.
pub fn gemm(a: View<'_>, b: View<'_>, c: &mut [f32], beta: f32) {
    assert_eq!(a.cols, b.rows, "inner dimensions differ");
    assert!(c.len() >= a.rows * b.cols, "output too small");
    a.check();
    b.check();
    if a.rows == 0 || b.cols == 0 {
        return;
    }
    // SAFETY: `check` proved every element the strides reach lies inside its slice, and `c`
    // holds `a.rows × b.cols` row-major elements; the slices do not alias (`c` is `&mut`).
    unsafe {
        matrixmultiply::sgemm(
            a.rows,
            a.cols,
            b.cols,
            1.0,
            a.data.as_ptr(),
            a.rs as isize,
            a.cs as isize,
            b.data.as_ptr(),
            b.rs as isize,
            b.cs as isize,
            beta,
            c.as_mut_ptr(),
            b.cols as isize,
            1,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multiplies_strided_views() {
        // a = [[1,2],[3,4]], b = transpose of [[5,6],[7,8]] = [[5,7],[6,8]]
        let a = [1.0, 2.0, 3.0, 4.0];
        let w = [5.0, 6.0, 7.0, 8.0];
        let mut c = [1.0; 4];
        gemm(
            View::rows(&a, 2, 2),
            View::transposed(&w, 2, 2),
            &mut c,
            1.0,
        );
        assert_eq!(c, [1.0 + 17.0, 1.0 + 23.0, 1.0 + 39.0, 1.0 + 53.0]);
    }

    #[test]
    fn overlapping_rows_read_a_sliding_window() {
        // rows are x[t..t+2]: a 1-D convolution with kernel [1, 10]
        let x = [1.0, 2.0, 3.0, 4.0];
        let k = [1.0, 10.0];
        let mut c = [0.0; 3];
        let a = View {
            data: &x,
            rows: 3,
            cols: 2,
            rs: 1,
            cs: 1,
        };
        gemm(a, View::rows(&k, 2, 1), &mut c, 0.0);
        assert_eq!(c, [21.0, 32.0, 43.0]);
    }
}
