//! `http-ceiling`: the HTTP ceiling of the relay's benchmarks. A minimal HTTP/1.1 server (hyper,
//! tokio's multi-thread runtime, as `tern serve` uses) that reads each request's whole body and
//! answers 200 with a fixed body of `--answer-bytes` octets held in memory, typed as an MMS PDU.
//! It does nothing else per request, so what a load tool gets from it on the same machine, in
//! the same run, is the most that any relay could answer over HTTP there: the relay's rate over
//! this one is the share its own work leaves.
//!
//! With `--bodies N`, it holds N different answers of that size and answers a request whose
//! path ends in `/<i>` with the i-th (modulo N; any other path gets the first): a load that asks
//! for each in turn, as the retrieval benchmark asks the relay for its N stored messages, then
//! reads each answer from main memory, not from the CPU's cache, as the relay reads a body
//! from the page cache. This is a second reference beside the first, not a replacement.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use clap::Parser;
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

/// The content type of every answer the relay makes on MM1 (m-send.conf, m-retrieve.conf).
const MMS_PDU: &str = "application/vnd.wap.mms-message";

#[derive(Debug, Parser)]
#[command(about = "Minimal HTTP/1.1 server: reads each request's body, answers a fixed body")]
struct Args {
    /// Address and port to listen on.
    #[arg(long, default_value = "127.0.0.1:18080")]
    listen: SocketAddr,
    /// Octets of the fixed answer (the size of the relay's answer being compared with).
    #[arg(long)]
    answer_bytes: usize,
    /// Different answers held, chosen by the number that ends the request's path.
    #[arg(long, default_value_t = 1)]
    bodies: usize,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    // Any octets will do: load tools check the status and count the bytes, not the content.
    // Each answer is an allocation of its own, written once, so that each has its own pages.
    let answers: Arc<[Bytes]> =
        (0..args.bodies.max(1)).map(|i| Bytes::from(vec![b'A' + (i % 26) as u8; args.answer_bytes])).collect();
    let listener = TcpListener::bind(args.listen).await?;
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // Running out of descriptors under a load tool's burst is the client's doing;
                // the server keeps taking the connections that remain.
                eprintln!("accept: {e}");
                continue;
            }
        };
        let answers = answers.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request: Request<Incoming>| {
                let answer = answers[chosen(request.uri().path(), answers.len())].clone();
                async move { Ok::<_, Infallible>(respond(request, answer).await) }
            });
            // A client that goes away mid-request ends its connection; there is nothing to
            // record about it, the load tool counts it on its side.
            let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
        });
    }
}

/// The answer for `path`: the number after its last `/`, modulo `count`; 0 without one.
fn chosen(path: &str, count: usize) -> usize {
    path.rsplit('/').next().and_then(|i| i.parse::<usize>().ok()).map_or(0, |i| i % count)
}

/// Reads the whole body, as the relay must before it can answer, then the fixed answer.
async fn respond(request: Request<Incoming>, answer: Bytes) -> Response<Full<Bytes>> {
    let status = match request.into_body().collect().await {
        Ok(_) => StatusCode::OK,
        Err(_) => StatusCode::BAD_REQUEST,
    };
    let mut response = Response::new(Full::new(answer));
    *response.status_mut() = status;
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(MMS_PDU));
    response
}
