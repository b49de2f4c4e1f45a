//! The Dockerfile frontend never panics on any input, and what it keeps of
//! a Dockerfile stays linear in its size: heredoc bodies, continuation
//! lines and ONBUILD triggers are each held a bounded number of times.
//! The same input is also read as a `.dockerignore` and matched.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rimg::dockerfile::ignore::Ignore;
use rimg::dockerfile::instructions;
use rimg::dockerfile::parser::{self, Node};
use rimg::dockerfile::shell::Lexer;

/// Bytes a node holds.
fn held(node: &Node) -> usize {
    node.keyword.len()
        + node.original.len()
        + node.args.iter().chain(&node.flags).map(String::len).sum::<usize>()
        + node
            .heredocs
            .iter()
            .map(|h| h.name.len() + h.content.len())
            .sum::<usize>()
        + node.trigger.as_deref().map_or(0, held)
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(dockerfile) = parser::parse("Dockerfile", text) {
        let total: usize = dockerfile.nodes.iter().map(held).sum();
        assert!(total <= 8 * text.len() + 64, "{total} bytes kept of {}", text.len());
    }
    if let Ok(stages) = instructions::parse("Dockerfile", text) {
        let lexer = Lexer::new(stages.escape);
        let env: &[(String, String)] = &[("A".into(), "x y".into())];
        for stage in stages.stages {
            for mut located in stage.instructions {
                let _ = located.instruction.expand(&lexer, env);
                if let instructions::Instruction::Run(run) = &located.instruction {
                    let _ = run.mounts(&lexer, env);
                }
            }
        }
    }
    if let Ok(ignore) = Ignore::parse(text) {
        let _ = ignore.excludes("a/b/c.txt");
    }
});
