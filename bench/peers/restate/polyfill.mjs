// Node 20 lacks Promise.withResolvers (Node 22+), which @restatedev/restate-sdk
// 1.17 calls; this is the standard definition. Loaded with `node --import`.
if (typeof Promise.withResolvers !== "function") {
  Promise.withResolvers = function withResolvers() {
    let resolve, reject;
    const promise = new this((res, rej) => {
      resolve = res;
      reject = rej;
    });
    return { promise, resolve, reject };
  };
}
