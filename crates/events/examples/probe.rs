use tract_onnx::prelude::*;
fn main() -> TractResult<()> {
    let args: Vec<String> = std::env::args().collect();
    let t = std::time::Instant::now();
    let m = tract_onnx::onnx().model_for_path(&args[1])?;
    for o in m.input_outlets()? {
        println!("in {:?}", m.outlet_fact(*o)?);
    }
    for o in m.output_outlets()? {
        println!("out {:?}", m.outlet_fact(*o)?);
    }
    let shape: Vec<usize> = args[2].split(',').map(|s| s.parse().unwrap()).collect();
    let m = m
        .with_input_fact(0, f32::fact(&shape).into())?
        .into_optimized()?
        .into_runnable()?;
    println!("load {:?}", t.elapsed());
    let x = Tensor::zero::<f32>(&shape)?;
    let t = std::time::Instant::now();
    let out = m.run(tvec!(x.into()))?;
    println!("run {:?}", t.elapsed());
    for o in out.iter() {
        println!("{:?}", o.shape());
    }
    Ok(())
}
