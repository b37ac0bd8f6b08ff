//! Max pool forward + gradient on the reference network's first pool ([64, 40, 40, 16]).
use staticflow::prelude::*;
fn main() {
    let g = Graph::new();
    let x = g.placeholder("x", [None, Some(40), Some(40), Some(16)]);
    let y = max_pool2d(x, [2, 2], [2, 2], Padding::Valid);
    let gx = gradients(&[l2_loss(y)], &[x]).unwrap()[0].unwrap();
    let mut s = Session::new(&g);
    let xs = ndarray::Array4::<f32>::from_shape_fn((64, 40, 40, 16), |(a, b, c, d)| {
        ((a * 7 + b * 3 + c * 5 + d * 11) % 17) as f32
    });
    let fetch = if std::env::args().nth(1).as_deref() == Some("grad") {
        gx.op()
    } else {
        y.op()
    };
    let mut best = f64::MAX;
    for _ in 0..200 {
        let t = std::time::Instant::now();
        s.run(&[fetch.into()], &[(x, (&xs).into())]).unwrap();
        best = best.min(t.elapsed().as_secs_f64());
    }
    println!("best {:.3} ms", best * 1e3);
}
