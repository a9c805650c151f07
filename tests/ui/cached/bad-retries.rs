use memo::cached;

#[derive(memo::CacheKey)]
struct Handle(u32);

#[cached(retries = 3)]
fn not_clone(handle: Handle) -> Result<u32, String> {
    Ok(handle.0)
}

#[cached(retries = 3)]
fn not_fallible(x: u32) -> u32 {
    x
}

#[cached(retries = 1000)]
fn too_many(x: u32) -> Result<u32, String> {
    Ok(x)
}

#[derive(memo::CacheKey)]
struct Model;

impl Model {
    #[cached(retries = 2)]
    fn consume(self, x: u32) -> Result<u32, String> {
        Ok(x)
    }
}

fn main() {}
