/** Files imported as text (`with { type: "text" }`), embedded by the compiler. */
declare module "*.py" {
  const text: string;
  export default text;
}
